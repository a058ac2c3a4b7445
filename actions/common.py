"""Helpers every action uses: the shop connection, entities, ordinals, formatting."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from catalog import HybridSearch, Product, Recommender, Store, TextEncoder, money
from language.emails import email_from_text
from language.numbers import normalise_numbers

_store: Store | None = None
_search: HybridSearch | None = None
_recommender: Recommender | None = None
_example: str | None = None  # this shop's example request (Store.example_search)
_encoder: TextEncoder | None = None  # the sentence encoder does not depend on the shop: load it once

ORDINALS = {
    "first": 1,
    "1st": 1,
    "one": 1,
    "top": 1,
    "second": 2,
    "2nd": 2,
    "two": 2,
    "third": 3,
    "3rd": 3,
    "three": 3,
    "fourth": 4,
    "4th": 4,
    "four": 4,
    "fifth": 5,
    "5th": 5,
    "five": 5,
    "last": -1,
    "final": -1,
    "bottom": -1,
}


def store() -> Store:
    """One connection per action server process, opened on first use."""
    global _store
    if _store is None:
        _store = Store()
    return _store


def verified_customer_id(tracker: Tracker) -> str | None:
    """The customer this conversation proved to be with a one-time code (the database says), or None."""
    owner = store().owner(tracker.sender_id)
    return owner.id if owner else None


def search() -> HybridSearch:
    """Hybrid product search (BM25 + vectors + spelling correction) over the shop."""
    global _search, _encoder
    if _search is None:
        _encoder = _encoder or TextEncoder()
        _search = HybridSearch(store(), _encoder)
    return _search


def recommender() -> Recommender:
    global _recommender
    if _recommender is None:
        _recommender = Recommender(search())
    return _recommender


def example_search() -> str:
    """A request this shop's own catalogue answers, for hints ("black jacket under 150")."""
    global _example
    if _example is None:
        _example = store().example_search() or "a gift under 30 dollars"
    return _example


def reset_shop_connection() -> None:
    """Forget the cached connection (tests point $SHOPKEEPER_DB at a fresh file)."""
    global _store, _search, _recommender, _example
    if _store is not None:
        _store.close()
    _store, _search, _recommender, _example = None, None, None, None


def user_text(tracker: Tracker) -> str:
    """The latest user message; button payloads ("/intent{...}") count as no text."""
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.startswith("/") else text


def latest_intent(tracker: Tracker) -> str:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def entities(tracker: Tracker, name: str) -> list[str]:
    return [str(v) for v in tracker.get_latest_entity_values(name) if v not in (None, "")]


def text_only(tracker: Tracker) -> bool:
    """rasa shell shows buttons as a blocking menu, so it gets plain text only."""
    return tracker.get_latest_input_channel() == "cmdline"


def say(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, buttons: list[dict[str, str]] | None = None
) -> None:
    if buttons and not text_only(tracker):
        dispatcher.utter_message(text=text, buttons=buttons)
    else:
        dispatcher.utter_message(text=text)


def ordinal_positions(tracker: Tracker) -> list[int]:
    """1-based positions the shopper named ("the second one" -> 2, "last" -> -1)."""
    positions = []
    for value in entities(tracker, "ordinal"):
        word = value.lower().strip()
        word = re.sub(r"^(number|no\.?|option)\s+", "", word)
        if word in ORDINALS:
            positions.append(ORDINALS[word])
        elif word.isdigit():
            positions.append(int(word))
    return positions


def pick(items: list[Any], position: int) -> Any | None:
    """Item at a 1-based position, -1 for the last; None when out of range."""
    if not items:
        return None
    if position == -1:
        return items[-1]
    return items[position - 1] if 1 <= position <= len(items) else None


def quantity(tracker: Tracker, default: int = 1) -> int:
    for value in entities(tracker, "quantity"):
        digits = normalise_numbers(value)
        if digits.strip().isdigit():
            return max(1, min(int(digits), 20))
    return default


def extract_email(text: str) -> str | None:
    """An email address from typed or spoken text ("alex dot morgan at example dot com")."""
    return email_from_text(text)


def validated_email(value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> str | None:
    """The email in a slot value, or None after telling the shopper what's wrong.

    The tagger may take only part of an address ("new" or "shopper@example.com" of
    "new.shopper@example.com"), so the address in the whole message wins when it holds the tagged
    part, and is used when the slot value holds none."""
    tagged = extract_email(str(value or ""))
    said = extract_email(str(tracker.latest_message.get("text") or ""))
    email = said if said and (not tagged or tagged.lower() in said.lower()) else tagged
    if not email:
        dispatcher.utter_message(text="That doesn't look like an email address; it should look like name@example.com.")
    return email


def validated_address(value: Any, dispatcher: CollectingDispatcher) -> str | None:
    """A delivery address that has at least a number and a street, else None after saying why."""
    address = " ".join(str(value or "").split())
    if len(address) < 8 or not re.search(r"\d", address):
        dispatcher.utter_message(text="Please give the full address: house number, street, city and postcode.")
        return None
    return address


def product_line(position: int, product: Product) -> str:
    stock = "" if product.in_stock else " (out of stock)"
    colours = f", {'/'.join(product.colors)}" if product.colors else ""
    return f"{position}. {product.name} - {money(product.price)}, rated {product.rating}/5{colours}{stock}"


def product_details(product: Product) -> str:
    lines = [
        f"**{product.name}** by {product.brand} - {money(product.price)}",
        f"Rated {product.rating}/5 from {product.review_count} reviews.",
        f"Material: {product.material}.",
    ]
    if product.colors:
        lines.append(f"Colours: {', '.join(product.colors)}.")
    if product.sizes:
        lines.append(f"Sizes: {', '.join(product.sizes)}.")
    lines.append("In stock." if product.in_stock else "Out of stock right now.")
    lines.append(product.description)
    return "\n".join(lines)


def cart_items(tracker: Tracker) -> list[dict[str, Any]]:
    cart = tracker.get_slot("cart")
    return [dict(item) for item in cart] if isinstance(cart, list) else []


def cart_products(items: list[dict[str, Any]]) -> list[tuple[dict[str, Any], Product | None]]:
    """Each cart line with its product (None for a product that is no longer sold)."""
    products = {p.id: p for p in store().products([i["id"] for i in items])}
    return [(item, products.get(item["id"])) for item in items]


def cart_totals(lines: list[tuple[dict[str, Any], Product | None]]) -> tuple[float, int]:
    """(total price, number of items) of the lines whose product is still sold."""
    sold = [(item, product) for item, product in lines if product]
    return (sum(product.price * item["qty"] for item, product in sold), sum(item["qty"] for item, _ in sold))


def cart_summary(items: list[dict[str, Any]]) -> str:
    if not items:
        return "Your cart is empty."
    lines = []
    contents = cart_products(items)
    for n, (item, product) in enumerate(contents, 1):
        if not product:
            lines.append(f"{n}. (a product that is no longer sold)")
            continue
        lines.append(f"{n}. {item['qty']} x {product.name} - {money(product.price * item['qty'])}")
    total, count = cart_totals(contents)
    noun = "item" if count == 1 else "items"
    return "Your cart:\n" + "\n".join(lines) + f"\nTotal: {money(total)} for {count} {noun}."
