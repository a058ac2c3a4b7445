"""The one-time code step both forms share (verify_customer_form, checkout_form).

The code is mailed when a form first needs it (``code_slots``) and read back by ``check_code``;
``catalog/identity.py`` keeps the codes and what each conversation has proven.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store
from catalog import CODE_DIGITS
from language.numbers import digit_string

MAX_FAILURES = 3  # per conversation within the window: then the form stops and offers a human
MAX_FAILURES_PER_ORDER = 5  # per order (or e-mail) within the window, from any conversation
RESEND = re.compile(r"\b(again|resend|re-send|new code|another (one|code)|did ?n[o']?t (get|receive|arrive)|no code)\b")
CONFIRMED = "confirmed"  # the slot only tells the form the step is done; the database holds the proof


def locked(tracker: Tracker, key: Any) -> bool:
    """Too many failed verifications lately, in this conversation or on this order (or e-mail)."""
    shop = store()
    if shop.verification_failures(conversation=tracker.sender_id) >= MAX_FAILURES:
        return True
    return bool(key) and shop.verification_failures(order_id=str(key)) >= MAX_FAILURES_PER_ORDER


def code_slots(tracker: Tracker, email: str | None, order_id: str | None = None) -> list[str]:
    """``["verification_code"]`` once a code is on its way to ``email``; [] when none can be sent now."""
    if not email:
        return []
    identity = store().identity
    pending = identity.pending_code(tracker.sender_id)
    if pending and str(pending["email"]).lower() == email.lower():
        return ["verification_code"]
    return ["verification_code"] if identity.send_code(tracker.sender_id, email, order_id) else []


def check_code(value: Any, tracker: Tracker, dispatcher: CollectingDispatcher, failure_key: str) -> dict[str, Any]:
    """Read back a code: right proves the e-mail address; wrong counts as a failed verification."""
    text = str(value or "").lower()
    identity = store().identity
    if RESEND.search(text):
        identity.withdraw(tracker.sender_id)  # the form mails a fresh one when it asks again
        return {"verification_code": None}
    code = digit_string(text)
    if not code or len(code) != CODE_DIGITS:
        dispatcher.utter_message(
            text=f'The code is the {CODE_DIGITS} digits in the e-mail I sent. Say "send a new code" '
            "if it hasn't arrived."
        )
        return {"verification_code": None}
    result = identity.check_code(tracker.sender_id, code)
    if result.ok:
        return {"verification_code": CONFIRMED}
    if result.reason == "expired":
        dispatcher.utter_message(text="That code has expired or was already used, so I'll send a new one.")
        return {"verification_code": None}
    store().record_verification_failure(tracker.sender_id, failure_key or str(result.email))
    hint = "" if locked(tracker, failure_key) else " Please check the e-mail and try again."
    dispatcher.utter_message(text="That code isn't right." + hint)
    return {"verification_code": None}
