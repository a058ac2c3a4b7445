"""Search, refinement, details, comparison and recommendations.

Context lives in slots: ``search_query`` (the last query as a dict, so refinements keep its
filters), ``last_results`` (ids shown, so "the second one" resolves), ``selected_product`` and
``viewed_products`` (what personal recommendations start from, with the cart and past orders).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, fields
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.cards import send_products, wants_cards
from actions.common import (
    cart_items,
    entities,
    example_search,
    ordinal_positions,
    pick,
    product_details,
    product_line,
    recommender,
    say,
    search,
    store,
    user_text,
    verified_customer_id,
)
from catalog import Interests, Product, SearchQuery, SearchResponse, clean_text, money
from language.words import counted, plural

PAGE = 5
REMEMBER_VIEWED = 10
ENTITY_FILTERS = ("brand", "color", "product_type", "category", "size", "material")
FILTER_WORDS = {
    "category": "category",
    "product_type": "type",
    "brand": "brand",
    "color": "colour",
    "size": "size",
    "material": "material",
    "price_min": "minimum price",
    "price_max": "maximum price",
    "in_stock": "in stock only",
}


def query_from_slot(value: Any) -> SearchQuery | None:
    if not isinstance(value, dict):
        return None
    known = {f.name for f in fields(SearchQuery)}
    return SearchQuery(**{k: v for k, v in value.items() if k in known})


def _apply_entities(query: SearchQuery, tracker: Tracker) -> SearchQuery:
    """Entities the NLU found fill filters the text parser missed (e.g. button payloads)."""
    vocab = search().vocabulary
    allowed = {
        "brand": vocab.brands,
        "color": vocab.colors,
        "product_type": vocab.product_types,
        "category": vocab.categories,
        "size": vocab.sizes,
        "material": vocab.materials,
    }
    for name in ENTITY_FILTERS:
        if getattr(query, name):
            continue
        for value in entities(tracker, name):
            match = next((v for v in allowed[name] if v.lower() == value.lower()), None)
            if match:
                setattr(query, name, match)
                break
    return query


def describe(query: SearchQuery) -> str:
    """'blue running shoes under $100' from a query's filters."""
    parts = [query.color or "", query.brand or "", query.material or ""]
    noun = (
        plural(query.product_type)
        if query.product_type
        else (f"{query.category} products" if query.category else "products")
    )
    parts.append(noun)
    text = " ".join(p for p in parts if p)
    if query.text:
        text += f" matching '{query.text}'"
    if query.size:
        text += f" in size {query.size}"
    if query.price_min is not None and query.price_max is not None:
        text += f" between {money(query.price_min)} and {money(query.price_max)}"
    elif query.price_max is not None:
        text += f" under {money(query.price_max)}"
    elif query.price_min is not None:
        text += f" over {money(query.price_min)}"
    if query.in_stock:
        text += " in stock"
    return text


CHEAPER = re.compile(r"\b(cheaper|less expensive|lower price|lower priced|budget)\b")
PRICIER = re.compile(r"\b(more expensive|pricier|pricey|higher price|higher priced|higher[- ]end)\b")

REFINE_BUTTONS = [{"title": "Cheaper", "payload": "/refine_search"}, {"title": "Show more", "payload": "show more"}]


def product_buttons(products: list[Product]) -> list[dict[str, str]]:
    buttons = []
    for n, _product in enumerate(products[:3], 1):
        buttons.append({"title": f"Details of #{n}", "payload": f'/product_details{{"ordinal": "{n}"}}'})
    buttons.append({"title": "Cheaper", "payload": "/refine_search"})
    return buttons


def show_results(
    dispatcher: CollectingDispatcher, tracker: Tracker, response: SearchResponse, intro: str | None = None
) -> list[EventType]:
    query = response.query
    if not response.hits:
        if query.offset:
            say(dispatcher, tracker, "That's everything I have for this search. Want to change a filter?")
            return []
        categories = ", ".join(search().vocabulary.categories)
        say(
            dispatcher,
            tracker,
            f"I couldn't find any {describe(query)}. Try other words, or browse a category: {categories}.",
        )
        return [SlotSet("last_results", [])]
    lines = []
    if response.closest_only and not query.offset:
        # Nothing uses the shopper's words or comes close in meaning: never call these matches.
        areas = sorted({p.category for p in response.products if p.category})
        where = f", in {' and '.join(areas)}" if 0 < len(areas) <= 2 else ""
        categories = ", ".join(search().vocabulary.categories)
        intro = f"Nothing in the shop matches those words exactly. The closest things I have{where}:"
        lines.append(intro)
        lines += [product_line(n, p) for n, p in enumerate(response.products, 1)]
        lines.append(f"If none of these is it, try other words or browse a category: {categories}.")
        say(dispatcher, tracker, "\n".join(lines), product_buttons(response.products))
        return [
            SlotSet("search_query", asdict(query)),
            SlotSet("last_results", [p.id for p in response.products]),
        ]
    if response.relaxed:
        dropped = ", ".join(FILTER_WORDS.get(r, r) for r in response.relaxed)
        lines.append(f"Nothing matched every filter, so I dropped the {dropped}.")
    lines.append(intro or _found(query, response))
    more = response.total > query.offset + len(response.hits)
    if wants_cards(tracker):
        # The cards carry each product; the text keeps the spoken hints.
        lines.append(_hint(len(response.hits), more, cards=True))
        say(dispatcher, tracker, "\n".join(lines), REFINE_BUTTONS if more else REFINE_BUTTONS[:1])
        send_products(dispatcher, tracker, response.products)
    else:
        lines += [product_line(n, p) for n, p in enumerate(response.products, 1)]
        lines.append(_hint(len(response.hits), more, cards=False))
        say(dispatcher, tracker, "\n".join(lines), product_buttons(response.products))
    return [
        SlotSet("search_query", asdict(query)),
        SlotSet("last_results", [p.id for p in response.products]),
    ]


def _hint(shown: int, more: bool, cards: bool) -> str:
    """What the shopper can say next, for what is on the screen: no "second one" when one is shown,
    no "show more" on the last page."""
    if shown == 1:
        options = ['"tell me more"', '"add it to my cart"']
    else:
        options = ['"tell me about the second one"'] + ([] if cards else ['"add the first to my cart"'])
    options += ['"cheaper"'] + (['"show more"'] if more else [])
    return f"Say {', '.join(options[:-1])} or {options[-1]}."


def _found(query: SearchQuery, response: SearchResponse) -> str:
    """'I found 12 matches for running shoes under $100, showing 6-10:' (counts as the shopper reads them)."""
    found = f"I found {counted(response.total, 'match')} for {describe(query)}"
    if response.total > len(response.hits):
        return f"{found}, showing {query.offset + 1}-{query.offset + len(response.hits)}:"
    return f"{found}:"


class ActionSearchProducts(Action):
    def name(self) -> str:
        return "action_search_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        query = _apply_entities(search().parse(user_text(tracker)), tracker)
        query.limit = PAGE
        if not query.text and not query.filters():
            say(
                dispatcher,
                tracker,
                f'What are you looking for? For example "{example_search()}" or "a gift under 30 dollars".',
            )
            return []
        return show_results(dispatcher, tracker, search().search(query))


def _shown_products(tracker: Tracker) -> list[Product]:
    ids = tracker.get_slot("last_results") or []
    return store().products([str(i) for i in ids])


class ActionRefineSearch(Action):
    """Changes the last search: keeps its filters unless the shopper contradicts them."""

    def name(self) -> str:
        return "action_refine_search"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        base = query_from_slot(tracker.get_slot("search_query"))
        text = clean_text(user_text(tracker)).lower()
        if base is None:
            if not text:
                say(dispatcher, tracker, "Let's start with a search: what are you looking for?")
                return []
            query = _apply_entities(search().parse(text), tracker)
            query.limit = PAGE
            return show_results(dispatcher, tracker, search().search(query))
        wants_pricier = bool(PRICIER.search(text))
        if re.search(r"\b(more|next|others?|else)\b", text) and not (
            wants_pricier or re.search(r"\b(more|less) than\b", text)
        ):
            base.offset += PAGE
            return show_results(dispatcher, tracker, search().search(base))
        base.offset = 0
        wants_cheaper = bool(CHEAPER.search(text) or not text)
        query = _apply_entities(search().parse(text, base=base), tracker)
        query.limit = PAGE
        # "Cheaper" and "more expensive" are against the page the shopper was just shown: under or
        # over its middle price (its only product's price when one was shown); the reply names it.
        shown = _shown_products(tracker) if wants_cheaper or wants_pricier else []
        middle = statistics.median(p.price for p in shown) if shown else None
        if wants_cheaper and query.price_max == base.price_max:
            if middle is not None:
                query.price_max = round(middle - 0.01, 2)
            query.sort = base.sort if base.sort != "price_asc" else "relevance"
            response = search().search(query)
            if not response.hits or "price_max" in response.relaxed:
                say(dispatcher, tracker, f"Those are already the cheapest {describe(base)} I have.")
                return []
            return show_results(dispatcher, tracker, response)
        if wants_pricier and query.price_min == base.price_min and middle is not None:
            query.price_min = round(middle + 0.01, 2)
            if query.price_max is not None and query.price_max <= query.price_min:
                query.price_max = None  # "under 100" and "more expensive than these" cannot both hold
            query.sort = "relevance"
            response = search().search(query)
            if not response.hits or "price_min" in response.relaxed:
                say(dispatcher, tracker, f"Those are already the most expensive {describe(base)} I have.")
                return []
            return show_results(dispatcher, tracker, response)
        return show_results(dispatcher, tracker, search().search(query))


def resolve_product(tracker: Tracker) -> Product | None:
    """The product the shopper means: an ordinal, a name or brand from the results, or the current one."""
    for product_id in entities(tracker, "product_id"):  # a card's button names its product
        product = store().product(product_id)
        if product:
            return product
    shown = _shown_products(tracker)
    for position in ordinal_positions(tracker):
        product = pick(shown, position)
        if product:
            return product
    text = clean_text(user_text(tracker)).lower()
    named = [p for p in shown if p.brand.lower() in text or p.name.lower() in text]
    for brand in entities(tracker, "brand"):
        named += [p for p in shown if p.brand.lower() == brand.lower()]
    if named:
        return named[0]
    selected = tracker.get_slot("selected_product")
    if selected:
        product = store().product(str(selected))
        if product:
            return product
    if len(shown) == 1:
        return shown[0]
    return None


class ActionProductDetails(Action):
    def name(self) -> str:
        return "action_product_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shown = _shown_products(tracker)
        positions = ordinal_positions(tracker)
        if positions and shown and not pick(shown, positions[0]):
            say(dispatcher, tracker, f"I only showed {counted(len(shown), 'product')}; which one did you mean?")
            return []
        product = resolve_product(tracker)
        if not product:
            say(
                dispatcher, tracker, 'Which product do you mean? Search first, then say "tell me about the second one".'
            )
            return []
        buttons = [
            {"title": "Add to cart", "payload": "/add_to_cart"},
            {"title": "Similar items", "payload": "/ask_recommendation"},
        ]
        say(dispatcher, tracker, product_details(product) + "\nWant me to add it to your cart?", buttons)
        send_products(dispatcher, tracker, [product], first_position=0)
        viewed = [str(i) for i in tracker.get_slot("viewed_products") or [] if str(i) != product.id]
        return [
            SlotSet("selected_product", product.id),
            SlotSet("viewed_products", [*viewed, product.id][-REMEMBER_VIEWED:]),
        ]


class ActionCompareProducts(Action):
    def name(self) -> str:
        return "action_compare_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shown = _shown_products(tracker)
        if len(shown) == 1:
            say(
                dispatcher,
                tracker,
                f"I showed only 1 product, the {shown[0].name}. Search for another one to compare it with.",
            )
            return []
        if not shown:
            searched = tracker.get_slot("search_query") is not None
            say(
                dispatcher,
                tracker,
                "Your last search found nothing to compare. What are you looking for?"
                if searched
                else "I need two products to compare. Search for something first.",
            )
            return []
        positions = ordinal_positions(tracker)
        text = user_text(tracker).lower()
        if len(positions) == 1 and re.search(r"\b(first|top) (two|2)\b", text):
            positions = [1, 2]
        if len(positions) < 2:
            positions = [1, 2]
        a, b = (pick(shown, n) for n in positions[:2])
        if a is None or b is None or a == b:
            say(
                dispatcher,
                tracker,
                f'I showed {counted(len(shown), "product")}; pick two different ones, like "compare the first and'
                ' second".',
            )
            return []
        rows = [
            f"**{a.name}** vs **{b.name}**",
            f"- Price: {money(a.price)} vs {money(b.price)}",
            f"- Rating: {a.rating}/5 ({a.review_count} reviews) vs {b.rating}/5 ({b.review_count} reviews)",
            f"- Material: {a.material} vs {b.material}",
            f"- Colours: {', '.join(a.colors) or '-'} vs {', '.join(b.colors) or '-'}",
        ]
        if a.sizes or b.sizes:
            rows.append(f"- Sizes: {', '.join(a.sizes) or '-'} vs {', '.join(b.sizes) or '-'}")
        rows.append(
            f"- Stock: {'in stock' if a.in_stock else 'out of stock'} vs {'in stock' if b.in_stock else 'out of stock'}"
        )
        cheaper = a if a.price < b.price else b
        better = a if (a.rating, a.review_count) >= (b.rating, b.review_count) else b
        if cheaper is better:
            rows.append(f"The {cheaper.name} is both cheaper and better rated.")
        else:
            rows.append(
                f"The {cheaper.name} is {money(abs(a.price - b.price))} cheaper; the {better.name} is better rated."
            )
        say(dispatcher, tracker, "\n".join(rows))
        return []


def interests(tracker: Tracker) -> Interests:
    """Everything this conversation (and this customer's past orders) says the shopper likes."""
    bought: list[str] = []
    customer = verified_customer_id(tracker)
    if customer:
        orders = sorted(store().orders_for_customer(str(customer)), key=lambda o: o.created_at or "")
        bought = [line.product_id for order in orders for line in order.lines]
    return Interests(
        carted=[i["id"] for i in cart_items(tracker)],
        viewed=[str(i) for i in tracker.get_slot("viewed_products") or []],
        shown=[str(i) for i in tracker.get_slot("last_results") or []],
        bought=bought,
    )


SIMILAR_WORDS = re.compile(r"\b(similar|like (this|it|that)|alternatives?|instead)\b")
GOES_WITH_WORDS = re.compile(r"\b(goes? with|go well|pairs?|match(es)?|with (this|it|that)|buy with|accessor(y|ies))\b")
NEW_WORDS = re.compile(r"\b(new|newest|latest|just arrived|arrivals?)\b")


class ActionRecommend(Action):
    """Suggestions with a reason: similar, cheaper, goes-with, new, for you, or top picks for a need."""

    def name(self) -> str:
        return "action_recommend"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = clean_text(user_text(tracker)).lower()
        current = resolve_product(tracker)
        # "what goes with this": the request's own words are not something to search for.
        wanted = NEW_WORDS.sub(" ", GOES_WITH_WORDS.sub(" ", SIMILAR_WORDS.sub(" ", text)))
        wanted = re.sub(r"\b(goes|go|well|cheaper|less expensive|lower price|for me|i should get)\b", " ", wanted)
        query = _apply_entities(search().parse(wanted), tracker)
        query.limit = PAGE
        has_target = bool(query.product_type or query.category or query.text or query.brand)
        rec = recommender()
        if current and not has_target and SIMILAR_WORDS.search(text):
            if re.search(r"\b(cheaper|less expensive|lower price)\b", text):
                picks = rec.cheaper_alternatives(current)
            else:
                picks = rec.similar(current)
        elif current and not has_target and GOES_WITH_WORDS.search(text):
            picks = rec.goes_with(current)
        elif current and not has_target and not text:
            picks = rec.similar(current)  # the "Similar items" button
        elif NEW_WORDS.search(text):
            picks = rec.new_arrivals(query, interests(tracker))
        elif not has_target:
            # "what do you recommend", "anything under 30": from what they've shown interest in,
            # or what other shoppers buy when this is a first visit.
            picks = rec.for_you(interests(tracker), query=query)
        else:
            picks = rec.top_picks(query)
        if not picks:
            say(
                dispatcher,
                tracker,
                "I don't have a good suggestion for that yet. Tell me what it's for, "
                'like "a gift for a runner under 80 dollars".',
            )
            return []
        lines = ["Here's what I'd suggest:"]
        lines += [f"{product_line(n, p)}\n   Why: {reason}." for n, (p, reason) in enumerate(picks, 1)]
        say(dispatcher, tracker, "\n".join(lines), product_buttons([p for p, _ in picks]))
        return [SlotSet("last_results", [p.id for p, _ in picks])]
