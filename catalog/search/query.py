"""Query understanding: pull structured filters out of free text.

"red running shoes under 100" -> product_type=running shoes, color=red, price_max=100.
What is not a filter is left as text for retrieval. Vocabulary (brands, colours, types...)
comes from the catalogue itself, so an imported catalogue is understood without code changes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field, replace
from typing import Any

from language.numbers import normalise_numbers

MAX_QUERY_CHARS = 500
SORTS = ("relevance", "price_asc", "price_desc", "rating", "newest")

CATEGORY_SYNONYMS = {
    "footwear": ["shoes", "shoe", "footwear", "boots", "trainers"],
    "apparel": ["clothes", "clothing", "apparel", "fashion", "outfit", "wear"],
    "electronics": ["electronics", "gadgets", "gadget", "tech", "devices"],
    "home": ["home", "homeware", "home decor", "decor", "bedroom", "living room"],
    "kitchen": ["kitchen", "cookware", "kitchenware", "cooking"],
    "beauty": ["beauty", "cosmetics", "makeup", "skincare", "skin care"],
    "sports": ["sports", "sport", "fitness", "gym", "exercise"],
    "toys": ["toys", "toy", "games for kids", "kids toys"],
    "books": ["books", "book", "reading"],
    "groceries": ["groceries", "grocery", "food", "pantry", "snacks"],
    "jewellery": ["jewellery", "jewelry", "jewels"],
    "garden": ["garden", "gardening", "patio", "outdoor"],
    "pets": ["pets", "pet", "pet supplies", "dog stuff", "cat stuff"],
    "office": ["office", "stationery", "desk", "school supplies"],
}
COLOR_SYNONYMS = {
    "gray": "grey",
    "navy blue": "navy",
    "golden": "gold",
    "rose": "pink",
    "purple": "purple",
    "violet": "purple",
    "beige": "beige",
    "cream": "beige",
    "tan": "brown",
}
SIZE_WORDS = {
    "extra small": "XS",
    "small": "S",
    "medium": "M",
    "large": "L",
    "extra large": "XL",
    "xs": "XS",
    "xl": "XL",
    "xxl": "XXL",
}
SORT_WORDS = [
    (r"\b(sort(ed)? by (lowest )?price|lowest price first|cheapest first)\b", "price_asc"),
    (r"\b(most expensive first|highest price first|sort(ed)? by highest price)\b", "price_desc"),
    (r"\b(sort(ed)? by (rating|reviews)|best rated first|highest rated first)\b", "rating"),
    (r"\b(newest first|latest first|sort(ed)? by (date|newest))\b", "newest"),
    (r"\b(cheap|cheaper|cheapest|budget|affordable|inexpensive|low cost)\b", "price_asc"),
    (r"\b(expensive|premium|luxury|high end|high-end|priciest)\b", "price_desc"),
    (r"\b(best|top|highest)[ -]rated\b|\b(popular|best reviewed)\b", "rating"),
    (r"\b(newest|latest|new arrivals?|just arrived|brand new)\b", "newest"),
]
STOP_WORDS = set(
    """
a an the and or of for to in on with without me my i im i'm we you your show find get buy want wanted
need looking look search searching something some any anything thing things item items product
products please can could would like do have has got is are that this these those there here
let see what which one ones 1 it its also just really very good nice great available options
dollars dollar bucks usd eur euros pounds price priced cost costs costing under below less than over
above more between from up at most least around about max maximum min minimum within budget only
sorted sort by size sizes color colour colors colours cheap cheaper cheapest store shop sell selling
expensive pricier pricey
recommend recommendation recommendations suggest suggestion suggestions idea ideas pick picks top best
seller sellers people usually similar alternative alternatives right now new newest latest
tell details detail about instead actually different them they ones
""".split()
)


@dataclass
class SearchQuery:
    """A product search: free text plus structured filters and a sort order."""

    text: str = ""
    category: str | None = None
    product_type: str | None = None
    brand: str | None = None
    color: str | None = None
    size: str | None = None
    material: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    in_stock: bool = False
    sort: str = "relevance"
    limit: int = 5
    offset: int = 0
    # Words corrected towards the catalogue's vocabulary, as (heard, meant), so the bot can say so.
    corrections: list[tuple[str, str]] = field(default_factory=list)
    # Words the shopper ruled out ("without a cable", "not leather", "that don't dangle"): a product
    # whose name, tags or description uses one is not shown.
    excluded: list[str] = field(default_factory=list)

    def filters(self) -> dict[str, object]:
        """The filters that are set, by name (for saying what is applied or relaxed)."""
        names = ("category", "product_type", "brand", "color", "size", "material", "price_min", "price_max")
        found: dict[str, object] = {n: getattr(self, n) for n in names if getattr(self, n) not in (None, "")}
        if self.in_stock:
            found["in_stock"] = True
        return found

    def merged(self, **changes: Any) -> SearchQuery:
        return replace(self, **changes)


@dataclass
class Vocabulary:
    """What the catalogue knows, lower-cased: the words that become filters."""

    brands: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    product_types: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    materials: list[str] = field(default_factory=list)


def clean_text(text: str) -> str:
    """Strip markup and control characters, cap the length: safe for any query path."""
    text = html.unescape(text or "")
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"[\x00-\x1f\x7f]", " ", text)
    return " ".join(text.split())[:MAX_QUERY_CHARS]


def _find_phrase(text: str, phrases: list[str]) -> tuple[str, re.Match[str]] | None:
    """The longest vocabulary phrase present in ``text`` as whole words."""
    for phrase in sorted(phrases, key=len, reverse=True):
        m = re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", text)
        if m:
            return phrase, m
    return None


def _plural_variants(ptype: str) -> list[str]:
    t = ptype.lower()
    variants = {t, t.replace("-", ""), t.replace("-", " ")}
    if t.endswith("s") and not t.endswith("ss"):
        variants.add(t[:-1])
    else:
        variants.add(t + "s")
    return sorted(variants)


def _cut(text: str, m: re.Match[str]) -> str:
    return text[: m.start()] + " " + text[m.end() :]


def _amount(raw: str) -> float:
    return float(raw.replace(",", ""))


def _parse_price(text: str, q: SearchQuery) -> str:
    num = r"\$?\s?(\d[\d,]*(?:\.\d+)?)"
    unit = r"(?:\s?(?:dollars?|bucks|usd|\$|euros?|pounds?))?"
    patterns = [
        (rf"\b(?:between|from)\s+{num}{unit}\s+(?:and|to|-)\s+{num}{unit}", "range"),
        (rf"{num}{unit}\s?(?:-|to)\s?{num}{unit}", "range"),
        (
            rf"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|no more than|at most|within|"
            rf"not more than|lower than|for less than|budget of)\s+{num}{unit}",
            "max",
        ),
        (rf"\b(?:over|above|more than|at least|min(?:imum)?|starting at|higher than)\s+{num}{unit}", "min"),
        (rf"{num}{unit}\s+(?:or less|and under|max|tops)", "max"),
        (rf"{num}{unit}\s+(?:or more|and up|and above|plus)", "min"),
        (r"(?:\$\s?(\d[\d,]*(?:\.\d+)?)|\b(\d[\d,]*(?:\.\d+)?)\s?(?:dollars?|bucks|usd))", "about"),
    ]
    for pattern, kind in patterns:
        m = re.search(pattern, text)
        if not m:
            continue
        values = [_amount(g) for g in m.groups() if g]
        if kind == "range" and len(values) >= 2:
            q.price_min, q.price_max = min(values[:2]), max(values[:2])
        elif kind == "max":
            q.price_max = values[0]
        elif kind == "min":
            q.price_min = values[0]
        elif kind == "about":
            # "a 50 dollar lamp": a budget, read as an upper bound.
            q.price_max = values[0]
        text = _cut(text, m)
        break
    return text


# "don't" may arrive as "dont" or "don t" (clean_text, a recogniser); the verb after it is not the thing.
NEGATION_WORDS = ("without", "not", "non", "no", "never", "don't", "dont", "doesn't", "doesnt", "isn't", "isnt")
NOT_THINGS = {"wait", "thanks", "thank", "problem", "worries", "idea", "matter", "longer", "more", "one", "sure"}
NEGATION = re.compile(
    r"\b(?:without|not|non|no|never|(?:don|doesn|isn|aren)\s?'?\s?t)[\s-]+"
    r"(?:(?:a|an|the|any|made|of|in|too|want|like|need|have|has|with)\s+)*([a-z][a-z-]{2,})"
)


def _parse_negations(text: str, q: SearchQuery) -> str:
    """Move the words after "without", "not", "no", "don't"... into ``q.excluded``; the rest stays."""
    for m in reversed(list(NEGATION.finditer(text))):
        if m.group(1) not in STOP_WORDS and m.group(1) not in NOT_THINGS and m.group(1) not in q.excluded:
            q.excluded.append(m.group(1))
        text = f"{text[: m.start()]} {text[m.end() :]}"
    return text


def parse_query(raw: str, vocab: Vocabulary, base: SearchQuery | None = None) -> SearchQuery:
    """Parse ``raw`` into a query; filters found in the text override those in ``base``."""
    q = replace(base, corrections=[], excluded=list(base.excluded)) if base else SearchQuery()
    text = _parse_negations(normalise_numbers(clean_text(raw)).lower(), q)  # before "leather" becomes a filter
    text = _parse_price(text, q)
    for pattern, sort in SORT_WORDS:
        m = re.search(pattern, text)
        if m:
            q.sort = sort
            text = _cut(text, m)
            break
    if re.search(r"\b(in stock|available now|ready to ship)\b", text):
        q.in_stock = True
        text = re.sub(r"\b(in stock|available now|ready to ship)\b", " ", text)

    found = _find_phrase(text, vocab.brands)
    if found:
        q.brand = found[0]
        text = _cut(text, found[1])

    types = {variant: t for t in vocab.product_types for variant in _plural_variants(t)}
    found = _find_phrase(text, list(types))
    if found:
        q.product_type = types[found[0]]
        q.category = None
        text = _cut(text, found[1])
    else:
        synonyms = {c: c for c in vocab.categories}
        synonyms.update({s: c for c, words in CATEGORY_SYNONYMS.items() if c in vocab.categories for s in words})
        found = _find_phrase(text, list(synonyms))
        if found:
            q.category = synonyms[found[0]]
            q.product_type = None
            text = _cut(text, found[1])

    colors = {c: c for c in vocab.colors}
    colors.update({s: c for s, c in COLOR_SYNONYMS.items() if c in vocab.colors})
    found = _find_phrase(text, list(colors))
    if found:
        q.color = colors[found[0]]
        text = _cut(text, found[1])

    m = re.search(r"\bsize\s+([a-z0-9]+(?:\s+large|\s+small)?)\b", text)
    if m:
        size = SIZE_WORDS.get(m.group(1), m.group(1))
        q.size = next((s for s in vocab.sizes if s.lower() == size.lower()), size.upper())
        text = _cut(text, m)
    else:
        m = re.search(r"(?<![\w-])(xxl|xl|xs)(?![\w-])", text)
        if m:
            q.size = SIZE_WORDS[m.group(1)]
            text = _cut(text, m)

    found = _find_phrase(text, vocab.materials)
    if found:
        q.material = found[0]
        text = _cut(text, found[1])

    words = [w for w in re.findall(r"[a-z0-9][a-z0-9'&-]*", text) if w not in STOP_WORDS]
    if words or base is None:
        q.text = " ".join(words)
    elif (q.product_type, q.category) != (base.product_type, base.category):
        q.text = ""  # a new kind of product: the old free-text words described the old one
    return q
