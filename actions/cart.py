"""The cart (kept in the ``cart`` slot as [{"id", "qty"}]) and the demo checkout."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.cards import send_cart
from actions.common import (
    cart_items,
    cart_summary,
    entities,
    ordinal_positions,
    pick,
    quantity,
    say,
    store,
    user_text,
    validated_address,
    validated_email,
)
from actions.identity import check_code, code_slots, locked
from actions.shopping import resolve_product
from catalog import StoreError, money
from language.words import counted


class ActionAddToCart(Action):
    def name(self) -> str:
        return "action_add_to_cart"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        product = resolve_product(tracker)
        if not product:
            say(
                dispatcher,
                tracker,
                'Which product should I add? Search first, then say "add the second one to my cart".',
            )
            return []
        qty = quantity(tracker)
        items = cart_items(tracker)
        existing = next((i for i in items if i["id"] == product.id), None)
        wanted = qty + (existing["qty"] if existing else 0)
        if product.stock < wanted:
            left = f"only {product.stock} left" if product.stock else "out of stock"
            say(dispatcher, tracker, f"Sorry, the {product.name} is {left}, so I can't add {qty}.")
            return [SlotSet("selected_product", product.id)]
        if existing:
            existing["qty"] = wanted
        else:
            items.append({"id": product.id, "qty": qty})
        buttons = [{"title": "View cart", "payload": "/view_cart"}, {"title": "Checkout", "payload": "/place_order"}]
        say(
            dispatcher,
            tracker,
            f"Added {qty} x {product.name} ({money(product.price)} each) to your cart.\n" + cart_summary(items),
            buttons,
        )
        send_cart(dispatcher, tracker, items)
        return [SlotSet("cart", items), SlotSet("selected_product", product.id)]


class ActionRemoveFromCart(Action):
    def name(self) -> str:
        return "action_remove_from_cart"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        items = cart_items(tracker)
        text = user_text(tracker).lower()
        if not items:
            say(dispatcher, tracker, "Your cart is already empty.")
            return []
        if re.search(r"\b(empty|clear|everything|all items|all of it)\b", text):
            say(dispatcher, tracker, "Done, your cart is now empty.")
            send_cart(dispatcher, tracker, [])
            return [SlotSet("cart", [])]
        target = self._target(tracker, items, text)
        if target is None:
            say(dispatcher, tracker, 'Which item should I remove? Say "remove the first item".\n' + cart_summary(items))
            return []
        product = store().product(target["id"])
        name = product.name if product else "that item"
        explicit_qty = bool(entities(tracker, "quantity"))
        if explicit_qty and quantity(tracker) < target["qty"]:
            target["qty"] -= quantity(tracker)
        else:
            items = [i for i in items if i is not target]
        say(dispatcher, tracker, f"Removed {name}.\n" + cart_summary(items))
        send_cart(dispatcher, tracker, items)
        return [SlotSet("cart", items)]

    @staticmethod
    def _target(tracker: Tracker, items: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
        for position in ordinal_positions(tracker):
            found = pick(items, position)
            if found:
                return found
        products = {p.id: p for p in store().products([i["id"] for i in items])}
        words = [w.lower() for w in entities(tracker, "product_type") + entities(tracker, "brand")]
        for item in items:
            product = products.get(item["id"])
            if product and any(w in (product.product_type.lower(), product.brand.lower()) for w in words):
                return item
            if product and (product.product_type.lower() in text or product.brand.lower() in text):
                return item
        selected = tracker.get_slot("selected_product")
        chosen = next((i for i in items if i["id"] == selected), None)
        if chosen and re.search(r"\b(it|that|this)\b", text):
            return chosen
        return items[0] if len(items) == 1 else None


class ActionViewCart(Action):
    def name(self) -> str:
        return "action_view_cart"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        items = cart_items(tracker)
        buttons = [{"title": "Checkout", "payload": "/place_order"}] if items else None
        say(dispatcher, tracker, cart_summary(items), buttons)
        send_cart(dispatcher, tracker, items)
        return []


class ValidateCheckoutForm(FormValidationAction):
    """Checkout asks for an e-mail and proves it with a code, so knowing someone's address opens
    nothing: the same step for every address, so the bot never tells which ones have an account.
    A new customer then gives a delivery address; a known one's stored address is used."""

    def name(self) -> str:
        return "validate_checkout_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        email = tracker.get_slot("email")
        if not cart_items(tracker) or locked(tracker, email):
            return []
        if not email:
            return ["email"]
        if not owns(tracker, email):
            return ["email", *code_slots(tracker, email)]
        return ["email"] if store().customer_by_email(email) else ["email", "new_address"]

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"email": validated_email(value, dispatcher, tracker)}

    def validate_verification_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return check_code(value, tracker, dispatcher, failure_key=str(tracker.get_slot("email") or ""))

    def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"new_address": validated_address(value, dispatcher)}


def owns(tracker: Tracker, email: str) -> bool:
    """Whether this conversation proved ``email`` is its own (a code, checked in the database)."""
    owned = store().identity.owned_email(tracker.sender_id)
    return owned is not None and owned.lower() == email.lower()


class ActionPlaceOrder(Action):
    def name(self) -> str:
        return "action_place_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        items = cart_items(tracker)
        if not items:
            say(dispatcher, tracker, "Your cart is empty, so there's nothing to order yet. What are you looking for?")
            return []
        email = tracker.get_slot("email")
        if not email or not owns(tracker, email):
            say(
                dispatcher,
                tracker,
                "I couldn't confirm that e-mail address, so I haven't placed the order; your cart is "
                'still here. Say "checkout" to try again later, or ask for a human.',
            )
            return [SlotSet("verification_code", None)]
        shop = store()
        customer = shop.customer_by_email(email)
        try:
            if not customer:
                address = tracker.get_slot("new_address")
                if not address:
                    say(dispatcher, tracker, "I need a delivery address to place the order.")
                    return []
                name = email.split("@")[0].replace(".", " ").replace("_", " ").title()
                customer = shop.create_customer(name, email, address)
            order = shop.create_order(customer.id, [(i["id"], int(i["qty"])) for i in items])
        except StoreError as exc:
            say(dispatcher, tracker, f"I couldn't place the order: {exc}")
            return []
        shipping = shop.policies["shipping"]
        fee = 0.0 if order.total >= shipping["free_over"] else shipping["options"][0]["price"]
        low, high = shipping["options"][0]["days"]
        say(
            dispatcher,
            tracker,
            f"Order {order.id} is placed for {customer.name}: {counted(len(order.lines), 'product')}, "
            f"{money(order.total)} plus {money(fee)} standard delivery, to {order.shipping_address}. "
            f"It should arrive in {low}-{high} working days. This is a demo checkout, so no payment "
            f"was taken. Keep the order number {order.id} to track it.",
        )
        send_cart(dispatcher, tracker, [])
        return [SlotSet("cart", []), SlotSet("new_address", None), SlotSet("verification_code", None)]
