"""Order services behind proof of identity: track, cancel, change, return, refund, invoice.

Flow: ``action_start_order_service`` remembers what the shopper wants, ``verify_customer_form``
asks for the order number and the account e-mail, and for anything beyond the order's status a
one-time code mailed to that account; then ``action_run_order_service`` does the work.

What a conversation has proven lives in the shop database (``Store.access``), never in a slot:
the number and the e-mail show the order's status; the code shows and changes everything about the
customer's orders. Failed attempts are counted in the database per conversation and per order
within an hour (``Store.verification_failures``): the dialogue cannot reset them and a restart keeps
them. Every failure gets the same reply, so the bot never tells which order numbers exist.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import entities, latest_intent, say, store, validated_address, validated_email
from actions.identity import check_code, code_slots, locked
from catalog import OWNER, STATUS, Order, StoreError, money
from language.numbers import digit_string

NOT_VERIFIED = "I couldn't verify that order with those details."
# Services that change an order or show more than its status need the code; the rest need the
# order number and its e-mail.
NEEDS_CODE = {"cancel_order", "change_shipping_address", "get_refund", "track_refund", "get_invoice", "check_invoice"}
RESET_PER_SERVICE = [SlotSet("new_address", None), SlotSet("return_reason", None), SlotSet("verification_code", None)]


def order_in_play(tracker: Tracker) -> tuple[Order | None, str | None]:
    """The order the shopper named and what this conversation may see of it (from the database)."""
    order_id = tracker.get_slot("order_id")
    order = store().order(str(order_id)) if order_id else None
    return order, (store().access(tracker.sender_id, order) if order else None)


class ActionStartOrderService(Action):
    def name(self) -> str:
        return "action_start_order_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events: list[EventType] = [SlotSet("pending_service", latest_intent(tracker)), *RESET_PER_SERVICE]
        named = [digit_string(v) for v in entities(tracker, "order_id")]
        order_id = next((n for n in named if n), None)
        if order_id:
            events += [SlotSet("order_id", order_id), SlotSet("email", None)]
        elif not order_in_play(tracker)[1]:
            # Nothing proven about the order in the slots: ask afresh.
            events += [SlotSet("order_id", None), SlotSet("email", None)]
        return events


class ValidateVerifyCustomerForm(FormValidationAction):
    def name(self) -> str:
        return "validate_verify_customer_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if locked(tracker, tracker.get_slot("order_id")):
            return []
        order, access = order_in_play(tracker)
        if not order or not access:
            return ["order_id", "email"]
        service = tracker.get_slot("pending_service")
        if access == STATUS:
            if service not in NEEDS_CODE:
                return ["order_id", "email"]
            owner = store().customer(order.customer_id)
            return ["order_id", "email", *code_slots(tracker, owner.email if owner else None, order.id)]
        if service == "change_shipping_address" and order.status == "processing":
            return ["order_id", "new_address"]
        if service == "get_refund" and store().return_eligibility(order)[0]:
            return ["order_id", "return_reason"]
        return ["order_id"]

    def _failed(self, tracker: Tracker, dispatcher: CollectingDispatcher, order_id: str, slot: str) -> dict[str, Any]:
        """One reply for every failure (unknown order, wrong email, locked), counted in the database."""
        store().record_verification_failure(tracker.sender_id, order_id)
        hint = "" if locked(tracker, order_id) else " Please check the order number and email and try again."
        dispatcher.utter_message(text=NOT_VERIFIED + hint)
        return {slot: None}

    def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") == "verification_code":
            # Digits read back while a code is asked for are the code, not a new order number.
            pending = store().identity.pending_code(tracker.sender_id)
            return {"order_id": pending["order_id"] if pending else None}
        order_id = digit_string(str(value or ""))
        if not order_id:
            dispatcher.utter_message(
                text="I couldn't find an order number in that. It's the 5-digit number "
                "in your confirmation email, like 10001."
            )
            return {"order_id": None}
        order = store().order(order_id)
        if not order or locked(tracker, order_id):
            return self._failed(tracker, dispatcher, order_id, "order_id")
        if store().access(tracker.sender_id, order):
            return {"order_id": order_id}
        result: dict[str, Any] = {"order_id": order_id}
        email = tracker.get_slot("email")
        if email:  # the email came first, or in the same message
            result.update(self._check(order_id, email, tracker, dispatcher))
        return result

    def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        email = validated_email(value, dispatcher, tracker)
        if not email:
            return {"email": None}
        order_id = tracker.get_slot("order_id")
        if not order_id:
            return {"email": email}
        return self._check(str(order_id), email, tracker, dispatcher)

    def _check(self, order_id: str, email: str, tracker: Tracker, dispatcher: CollectingDispatcher) -> dict[str, Any]:
        """The order's number and e-mail match: this conversation may see the order's status."""
        order = None if locked(tracker, order_id) else store().verify(order_id, email)
        if not order:
            return self._failed(tracker, dispatcher, order_id, "email")
        store().identity.grant(tracker.sender_id, STATUS, email=email, order_id=order.id)
        return {"email": email}

    def validate_verification_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return check_code(value, tracker, dispatcher, failure_key=str(tracker.get_slot("order_id") or ""))

    def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"new_address": validated_address(value, dispatcher)}

    def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = " ".join(str(value or "").split())
        return {"return_reason": reason or None}


def _status(order: Order) -> str:
    """What the order number and its e-mail may show: the status, no address, no contents."""
    if order.status == "processing":
        return f"Order {order.id} is being packed and should ship within 1-2 working days."
    if order.status == "shipped":
        return f"Order {order.id} has shipped with {order.carrier} and should arrive by {order.eta}."
    if order.status == "delivered":
        return f"Order {order.id} was delivered on {order.delivered_at}."
    return f"Order {order.id} was cancelled on {order.cancelled_at}."


def _track(order: Order) -> str:
    if order.status == "processing":
        return f"Order {order.id} (placed {order.created_at}) is being packed and should ship within 1-2 working days."
    if order.status == "shipped":
        return (
            f"Order {order.id} is on its way with {order.carrier}, tracking number {order.tracking_number}. "
            f"Expected delivery: {order.eta}."
        )
    if order.status == "delivered":
        return f"Order {order.id} was delivered on {order.delivered_at} to {order.shipping_address}."
    return f"Order {order.id} was cancelled on {order.cancelled_at}."


def _invoice(order: Order, policies: dict[str, Any]) -> str:
    lines = [f"Invoice for order {order.id} (placed {order.created_at}):"]
    lines += [f"- {line.quantity} x {line.name}: {money(line.total)}" for line in order.lines]
    lines.append(f"Total: {money(order.total)}. {policies['payment']['currency_note']}")
    rules = policies["invoices"]
    lines.append(f"The PDF invoice is {rules['delivery']}; you can also download it at {rules['self_service']}.")
    return "\n".join(lines)


def _refund_status(order: Order) -> str:
    returns = store().returns_for_order(order.id)
    if not returns:
        return f'There\'s no return or refund on order {order.id} yet. Say "return my order" to start one.'
    r = returns[-1]
    if r.status == "refunded":
        return (
            f"Return {r.id}: {money(r.refund_amount)} was refunded on {r.refunded_at} to your original payment method."
        )
    days = store().policies["returns"]["refund_processing_days"]
    if r.status == "received":
        return (
            f"Return {r.id}: we've received the items; your refund of {money(r.refund_amount)} "
            f"will be issued within {days[0]}-{days[1]} working days."
        )
    return (
        f"Return {r.id} was opened on {r.created_at} and we're waiting for the parcel. The refund of "
        f"{money(r.refund_amount)} follows {days[0]}-{days[1]} working days after it arrives."
    )


class ActionRunOrderService(Action):
    def name(self) -> str:
        return "action_run_order_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        service = tracker.get_slot("pending_service") or "track_order"
        order, access = order_in_play(tracker)
        done: list[EventType] = [SlotSet("pending_service", None), *RESET_PER_SERVICE]
        human = [{"title": "Talk to a human", "payload": "/contact_human_agent"}]
        if not order or not access:
            say(
                dispatcher,
                tracker,
                "I couldn't verify that order with that email, so I can't share its "
                "details. A colleague can check your identity another way.",
                human,
            )
            return [*done, SlotSet("order_id", None), SlotSet("email", None)]
        if access == OWNER:
            say(dispatcher, tracker, self._perform(service, order, tracker))
        elif service in NEEDS_CODE:
            why = (
                "there have been too many wrong attempts lately, so for the account's safety I can't go further here"
                if locked(tracker, order.id)
                else "I can't send another one right now"
            )
            say(
                dispatcher,
                tracker,
                f"{_status(order)} To go further I need the code from the e-mail on the account, and {why}. "
                "Please try again in an hour, or ask a colleague.",
                human,
            )
        elif service == "change_order" and order.status == "processing":
            say(dispatcher, tracker, self._perform(service, order, tracker))
        else:
            say(dispatcher, tracker, _status(order))
        return done

    def _perform(self, service: str, order: Order, tracker: Tracker) -> str:
        shop = store()
        try:
            if service == "cancel_order":
                cancelled = shop.cancel_order(order.id)
                fee = shop.policies["cancellation"]["fee"]
                fee_text = "free of charge" if not fee else f"for a {money(fee)} fee"
                return (
                    f"Order {cancelled.id} is cancelled {fee_text}. {money(cancelled.total)} goes back to "
                    "your original payment method within 3-5 working days."
                )
            if service == "change_shipping_address":
                address = tracker.get_slot("new_address")
                if order.status != "processing" or not address:
                    return (
                        f"Order {order.id} has already {order.status}, so the address can't change now. "
                        "The carrier's tracking page may let you redirect it."
                    )
                updated = shop.change_shipping_address(order.id, address)
                return f"Done: order {updated.id} will now go to {updated.shipping_address}."
            if service == "change_order":
                if order.status != "processing":
                    return (
                        f"Order {order.id} has already {order.status}, so it can't be changed. "
                        "You can return items within the return window and order again."
                    )
                return (
                    f"Order {order.id} hasn't shipped yet. I can change its delivery address, or cancel "
                    'it so you can order again with the changes: say "change the address" or '
                    '"cancel my order".'
                )
            if service == "get_refund":
                reason = tracker.get_slot("return_reason")
                ok, why = shop.return_eligibility(order)
                if not ok or not reason:
                    return why + " If you think that's wrong, ask for a human and they'll look into it."
                ret = shop.create_return(order.id, reason)
                rules = shop.policies["returns"]
                days = rules["refund_processing_days"]
                label = "A free return label is on its way to your email. " if rules["free_return_shipping"] else ""
                return (
                    f"Return {ret.id} is open for order {order.id}. {label}Send the items back "
                    f"{rules['condition']}; the refund of {money(ret.refund_amount)} goes to "
                    f"{rules['refund_method']} within {days[0]}-{days[1]} working days after they arrive."
                )
            if service == "track_refund":
                return _refund_status(order)
            if service in ("get_invoice", "check_invoice"):
                return _invoice(order, shop.policies)
        except StoreError as exc:
            return str(exc)
        return _track(order)
