"""Structured replies for clients that draw them (the web widget): product cards and the cart.

They travel as Rasa custom payloads (``json_message``) next to the text reply, so a text-only
client still reads everything in the text. A client asks for cards by sending the metadata
``{"rich": true}``; then product lists come as a carousel instead of numbered text lines.
Buttons reference the product id, so a card scrolled back to still adds the right product.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import cart_products, cart_totals, text_only
from catalog import Product, money


def wants_cards(tracker: Tracker) -> bool:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return bool(isinstance(metadata, dict) and metadata.get("rich")) and not text_only(tracker)


def product_payload(product: str, intent: str) -> str:
    return f'/{intent}{{"product_id": "{product}"}}'


def product_card(product: Product, position: int | None = None) -> dict[str, Any]:
    return {
        "id": product.id,
        "position": position,
        "name": product.name,
        "brand": product.brand,
        "category": product.category,
        "product_type": product.product_type,
        "price": product.price,
        "price_text": money(product.price),
        "rating": product.rating,
        "review_count": product.review_count,
        "colors": list(product.colors),
        "in_stock": product.in_stock,
        "buttons": [
            {"title": "Details", "payload": product_payload(product.id, "product_details")},
            {"title": "Add to cart", "payload": product_payload(product.id, "add_to_cart")},
        ],
    }


def send_products(
    dispatcher: CollectingDispatcher, tracker: Tracker, products: list[Product], first_position: int = 1
) -> None:
    if products and wants_cards(tracker):
        # first_position 0: a single product shown on its own, with no place in a list.
        cards = [product_card(p, n or None) for n, p in enumerate(products, first_position)]
        dispatcher.utter_message(json_message={"type": "products", "products": cards})


def cart_payload(items: list[dict[str, Any]]) -> dict[str, Any]:
    contents = cart_products(items)
    lines = [
        {"id": item["id"], "name": product.name, "qty": int(item["qty"]), "price": product.price}
        for item, product in contents
        if product
    ]
    total, count = cart_totals(contents)
    total = round(total, 2)
    return {"type": "cart", "count": count, "total": total, "total_text": money(total), "items": lines}


def send_cart(dispatcher: CollectingDispatcher, tracker: Tracker, items: list[dict[str, Any]]) -> None:
    """The cart's count and total, so the widget's badge follows every change."""
    if wants_cards(tracker):
        dispatcher.utter_message(json_message=cart_payload(items))
