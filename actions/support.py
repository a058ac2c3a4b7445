"""Policy answers, feedback, newsletter, human handoff and leaving a flow."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import cart_items, latest_intent, say, store, user_text, validated_email, verified_customer_id
from catalog import money

FLOW_SLOTS = ["pending_service", "new_address", "return_reason", "verification_code", "feedback_kind", "feedback_text"]


def _days(span: list[int]) -> str:
    low, high = span
    if low == high:
        return f"{low} working day" + ("" if low == 1 else "s")
    return f"{low}-{high} working days"


def policy_answer(intent: str, policies: dict[str, Any]) -> str:
    """The answer to a policy question, built from the shop's policy file."""
    shipping, returns, contact = policies["shipping"], policies["returns"], policies["contact"]
    if intent == "delivery_options":
        options = [
            f"- {o['name']}: {money(o['price']) if o['price'] else 'free'}, {_days(o['days'])}"
            for o in shipping["options"]
        ]
        return (
            "We offer:\n"
            + "\n".join(options)
            + f"\nStandard delivery is free on orders over {money(shipping['free_over'])}. "
            f"We ship with {', '.join(shipping['carriers'])}."
        )
    if intent == "delivery_period":
        options = [f"- {o['name']}: {_days(o['days'])}" for o in shipping["options"]]
        return "Delivery times after dispatch:\n" + "\n".join(options)
    if intent == "check_payment_methods":
        return f"We accept {', '.join(policies['payment']['methods'])}. {policies['payment']['currency_note']}"
    if intent == "payment_issue":
        steps = "\n".join(f"{n}. {s}" for n, s in enumerate(policies["payment"]["failed_payment_steps"], 1))
        return (
            "Sorry about the payment trouble. Things that usually fix it:\n"
            + steps
            + '\nIf you were charged but have no order, say "talk to a human" and a colleague will '
            "trace the payment."
        )
    if intent == "check_refund_policy":
        blocked = ", ".join(returns.get("non_returnable_categories", [])) or "nothing"
        days = returns["refund_processing_days"]
        free = "free" if returns["free_return_shipping"] else "at your cost"
        return (
            f"You can return items within {returns['window_days']} days of delivery, {returns['condition']}. "
            f"Return shipping is {free}. Refunds go to {returns['refund_method']} within "
            f"{days[0]}-{days[1]} working days of us receiving the items. Not returnable: {blocked}."
        )
    if intent == "check_cancellation_fee":
        fee = policies["cancellation"]["fee"]
        fee_text = "There's no cancellation fee" if not fee else f"Cancelling costs {money(fee)}"
        return (
            f"{fee_text} while an order is still processing. After it ships, cancelling is "
            f"{policies['cancellation']['fee_after_shipping']}."
        )
    # contact_customer_service and anything else: how to reach people.
    return (
        f"You can reach customer service at {contact['email']} or {contact['phone']}, "
        f'{contact["hours"]}. Or say "talk to a human" and I\'ll hand this chat over.'
    )


class ActionStorePolicy(Action):
    def name(self) -> str:
        return "action_store_policy"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        say(dispatcher, tracker, policy_answer(latest_intent(tracker), store().policies))
        return []


class ActionStartFeedback(Action):
    """Remembers whether this is a complaint or a review; a detailed first message is the feedback."""

    def name(self) -> str:
        return "action_start_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = user_text(tracker)
        generic = re.search(
            r"\b(i want to|i'd like to|i would like to|how do i|can i)\b.{0,20}"
            r"\b(complain|complaint|review|rate|feedback)\b",
            text.lower(),
        )
        detailed = len(text.split()) >= 7 and not generic
        return [SlotSet("feedback_kind", latest_intent(tracker)), SlotSet("feedback_text", text if detailed else None)]


class ValidateFeedbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_feedback_form"

    def validate_feedback_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if len(text) < 3:
            dispatcher.utter_message(text="Could you tell me a little more?")
            return {"feedback_text": None}
        return {"feedback_text": text[:5000]}


class ActionSaveFeedback(Action):
    def name(self) -> str:
        return "action_save_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        kind = tracker.get_slot("feedback_kind") or "complaint"
        text = tracker.get_slot("feedback_text")
        reset = [SlotSet("feedback_kind", None), SlotSet("feedback_text", None)]
        if not text:
            say(dispatcher, tracker, "I didn't get any feedback to save. You can try again any time.")
            return reset
        number = store().add_feedback(kind, text, verified_customer_id(tracker), tracker.sender_id)
        dispatcher.utter_message(response="utter_review_thanks" if kind == "review" else "utter_complaint_saved")
        say(dispatcher, tracker, f"Reference: {kind} #{number}.")
        return reset


# "newsletter_subscription" covers both ways; these words mean out, not in.
UNSUBSCRIBE = re.compile(
    r"\b(un-?subscri\w*|opt\w*( me)?[ -]?out|stop (sending|emailing|mailing)|take me off|remove me from"
    r"|(no (more|longer)|don'?t|do not|never)\b[^.?!]{0,40}\b(e-?mails?|newsletters?|mailing)"
    r"|cancel (my |the )?(newsletter|subscription))",
    re.IGNORECASE,
)


def wants_out(tracker: Tracker) -> bool:
    """The shopper's newsletter request asked to stop the e-mails."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if intent == "newsletter_subscription":
                return bool(UNSUBSCRIBE.search(event.get("text") or ""))
    return False


class ValidateNewsletterForm(FormValidationAction):
    def name(self) -> str:
        return "validate_newsletter_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        return [] if wants_out(tracker) else domain_slots  # no address is asked for to leave the list

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"email": validated_email(value, dispatcher, tracker)}


class ActionSubscribeNewsletter(Action):
    def name(self) -> str:
        return "action_subscribe_newsletter"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if wants_out(tracker):
            # An address is taken off the list only by its owner: the link in every newsletter proves that.
            say(
                dispatcher,
                tracker,
                "To stop the newsletter, use the unsubscribe link at the bottom of any newsletter e-mail: one "
                "click takes that address off the list. I can't remove an address from this chat, because I "
                "can't check here that it's yours. I have not subscribed anything.",
            )
            return []
        email = tracker.get_slot("email")
        if not email:
            say(dispatcher, tracker, "I need an email address to subscribe you.")
            return []
        if store().subscribe(email):
            say(
                dispatcher,
                tracker,
                f"Done: {email} is subscribed to our newsletter. Every email has an unsubscribe link.",
            )
        else:
            say(dispatcher, tracker, f"{email} is already subscribed, so you're all set.")
        return []


def conversation_summary(tracker: Tracker) -> dict[str, Any]:
    """What a human agent needs to pick up the chat without asking again."""
    turns = []
    for event in tracker.events:
        if event.get("event") == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            turns.append({"from": "shopper", "text": (event.get("text") or "")[:500], "intent": intent.get("name")})
        elif event.get("event") == "bot" and event.get("text"):
            turns.append({"from": "bot", "text": event["text"][:500]})
    return {
        "session": tracker.sender_id,
        "customer_id": verified_customer_id(tracker),
        "order_id": tracker.get_slot("order_id"),
        "cart": cart_items(tracker),
        "last_search": tracker.get_slot("search_query"),
        "last_turns": turns[-20:],
    }


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shop = store()
        contact = shop.policies["contact"]
        ticket = shop.open_handoff(tracker.sender_id)
        if ticket is None:
            summary = conversation_summary(tracker)
            ticket = shop.add_handoff(
                tracker.sender_id, summary, reason=latest_intent(tracker), customer_id=verified_customer_id(tracker)
            )
        # Only what is true: a colleague is promised only while one has the inbox open (bot/agent_inbox.py).
        if shop.agents_online():
            text = (
                f"I've passed this conversation to the shop team (ticket #{ticket}) with a summary, so you won't "
                "need to repeat yourself. A colleague is online and will join this chat shortly; please keep it open."
            )
        else:
            text = (
                f"No one from the shop team is online right now (we're here {contact['hours']}). I've saved this "
                f"conversation as ticket #{ticket} with a summary. For an answer outside those hours, email "
                f"{contact['email']} and mention ticket #{ticket}. Meanwhile I can keep helping here."
            )
        say(dispatcher, tracker, text)
        return [ActiveLoop(None), SlotSet("requested_slot", None)]


class ActionCancelFlow(Action):
    def name(self) -> str:
        return "action_cancel_flow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_flow_cancelled")
        return [ActiveLoop(None), SlotSet("requested_slot", None), *[SlotSet(s, None) for s in FLOW_SLOTS]]
