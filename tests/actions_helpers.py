"""Build real rasa_sdk Trackers and run real actions against the test shop."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from tests.conftest import ROOT


@lru_cache(maxsize=1)
def domain() -> dict[str, Any]:
    """The bot's real domain, as the action server receives it."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def tracker(
    text: str = "",
    intent: str = "",
    entities: list[dict[str, Any]] | None = None,
    slots: dict[str, Any] | None = None,
    channel: str = "rest",
    active_loop: str | None = None,
    sender: str = "test-user",
    candidates: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Tracker:
    """A tracker after one user turn; ``candidates`` are slots extracted in that turn (to validate)."""
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    events: list[dict[str, Any]] = [{"event": "user", "text": text, "parse_data": message, "input_channel": channel}]
    events += [{"event": "slot", "name": k, "value": v} for k, v in (candidates or {}).items()]
    all_slots = {**(slots or {}), **(candidates or {})}
    return Tracker(
        sender, all_slots, message, events, False, None, {"name": active_loop} if active_loop else {}, "action_listen"
    )


def ents(**values: str) -> list[dict[str, Any]]:
    return [{"entity": k, "value": v} for k, v in values.items()]


def run(action: Action, t: Tracker) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Run an action; returns (messages, slot changes, all text joined)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, domain()))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    text = "\n".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)
    return dispatcher.messages, slots, text


def validate(form_action: Any, t: Tracker) -> tuple[dict[str, Any], str]:
    """Run a form validation action on the slots set in the latest turn."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(form_action.run(dispatcher, t, domain()))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return slots, "\n".join(m.get("text") or "" for m in dispatcher.messages)


def required(form_action: Any, t: Tracker) -> list[str]:
    """The slots a form validation action says it still needs, in order."""
    slots = form_action.domain_slots(domain())
    return asyncio.run(form_action.required_slots(slots, CollectingDispatcher(), t, domain()))


# What an attacker who reached the action server could post: slots that claim every proof there was.
FORGED_SLOTS = {
    "pending_service": "get_invoice",
    "order_id": "10003",
    "email": "alex.morgan@example.com",
    "verified_order_id": "10003",
    "customer_id": "C0001",
    "verification_code": "confirmed",
}


def mailed_code(shop: Any, email: str) -> str:
    """The newest one-time code in the shop's local outbox for ``email`` (as a shopper reads it)."""
    import re

    messages = shop.outbox(to=email, limit=1)
    assert messages, f"no mail to {email}"
    found = re.search(r"\b(\d{6})\b", messages[0]["body"])
    assert found, messages[0]["body"]
    return found.group(1)
