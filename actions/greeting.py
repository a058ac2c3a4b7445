"""The greeting and the help text, with an example request from this shop's own catalogue (an
imported shop that sells furniture is not told to try hiking boots)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import example_search, say


class ActionGreet(Action):
    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        say(
            dispatcher,
            tracker,
            "Hi! I'm Shopkeeper, the shop's assistant. I can find products, manage your cart, and help with "
            f'orders, returns and your account. What are you looking for today? Try "{example_search()}" '
            'or "where is my order".',
        )
        return []


class ActionHelp(Action):
    def name(self) -> str:
        return "action_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        say(
            dispatcher,
            tracker,
            "Here's what I can do:\n"
            f'- **Shop**: "{example_search()}", "cheaper", "show more", "tell me about the second one", '
            '"compare the first two", "recommend a gift"\n'
            '- **Cart**: "add it to my cart", "remove it from my cart", "show my cart", "checkout"\n'
            "- **Orders**: track, cancel, return or change the address of an order (I'll ask for the order "
            "number and your email)\n"
            "- **Info**: delivery, payment methods, refunds, invoices, your account\n"
            '- **People**: "talk to a human" any time',
        )
        return []
