"""Deterministic demo catalogue: the same seed always yields the same products.

Product types, brands and price ranges come from ``demo/taxonomy.yml``; this module only
combines them into names and descriptions that agree with each product's attributes.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path
from typing import Any

import yaml

from catalog.models import Product

DEMO_DIR = Path(__file__).parent
TAXONOMY_FILE = DEMO_DIR / "taxonomy.yml"
PRODUCTS_PER_TYPE = 28
RELEASE_START = dt.date(2023, 1, 1)
RELEASE_END = dt.date(2026, 10, 31)

# Books and groceries are named differently from branded goods.
_BOOK_ADJECTIVES = [
    "Silent",
    "Hidden",
    "Last",
    "Golden",
    "Winter",
    "Quiet",
    "Lost",
    "Bright",
    "Distant",
    "Secret",
    "Salt",
    "Paper",
    "Northern",
    "Wild",
    "Amber",
    "Painted",
]
_BOOK_NOUNS = [
    "Harbour",
    "Orchard",
    "Letter",
    "Garden",
    "Lighthouse",
    "River",
    "Island",
    "Map",
    "Promise",
    "Summer",
    "Tide",
    "Meadow",
    "Clockmaker",
    "Bridge",
    "Forest",
]
_ANIMALS = [
    "Otter",
    "Little Fox",
    "Bramble Bear",
    "Hedgehog",
    "Pip the Penguin",
    "Owl",
    "Tiny Tortoise",
    "Mole",
    "Badger",
    "Rabbit",
]
_KID_THINGS = [
    "the Moon",
    "the Big Storm",
    "the Lost Kite",
    "the Sleepy Sun",
    "the Snow Day",
    "the Blue Balloon",
    "the Night Garden",
    "the Noisy Drum",
]
_COOK_THEMES = [
    "Weeknight",
    "Plant-Based",
    "One-Pan",
    "Mediterranean",
    "Family Baking",
    "Slow Cooker",
    "Street Food",
    "Five-Ingredient",
    "Seasonal Soup",
    "Breakfast",
]
_PLACES = [
    "Lisbon",
    "Kyoto",
    "Iceland",
    "Scotland",
    "Vancouver",
    "Sicily",
    "Patagonia",
    "Vienna",
    "Cape Town",
    "Norway",
    "Tuscany",
    "Morocco",
    "New Zealand",
    "Prague",
]

_DESCRIPTION_OPENERS = [
    "The {name} is {a_feature} {ptype} made from {material}.",
    "Meet the {name}: {a_feature} {ptype} in {material}.",
    "Designed by {brand}, this is {a_feature} {ptype} crafted from {material}.",
]
_BOOK_OPENERS = [
    "{name} is {a_feature} {ptype} from {brand}, published in {material}.",
    "From {brand} comes {name}, {a_feature} {ptype} in {material}.",
]


def load_taxonomy(path: Path = TAXONOMY_FILE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _title(text: str) -> str:
    return " ".join(w if w[:1].isdigit() else w[:1].upper() + w[1:] for w in text.split())


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _with_article(feature: str, unit: str | None) -> str:
    """'an illustrated', 'a pair of waterproof': the phrase before the product type."""
    words = f"{unit} {feature}" if unit else feature
    return ("an " if words[0].lower() in "aeiou" else "a ") + words


def _price(rng: random.Random, low: float, high: float) -> float:
    # Log-uniform: cheap items are more common than expensive ones, as in real shops.
    value = math.exp(rng.uniform(math.log(low), math.log(high)))
    return round(max(1.0, math.floor(value)) + 0.99, 2) if value >= 5 else round(value, 2)


def _name(rng: random.Random, category: str, ptype: str, brand: str, feature: str, model: str, size: str | None) -> str:
    if category == "books":
        if ptype == "novel":
            return f"The {rng.choice(_BOOK_ADJECTIVES)} {rng.choice(_BOOK_NOUNS)}"
        if ptype == "cookbook":
            pattern = rng.choice(["The {} Kitchen", "{} Suppers", "{} Made Simple", "The {} Table", "{} for Everyone"])
            return pattern.format(rng.choice(_COOK_THEMES))
        if ptype == "children's book":
            return f"{rng.choice(_ANIMALS)} and {rng.choice(_KID_THINGS)}"
        return f"{rng.choice(_PLACES)} {rng.choice(['Pocket Guide', 'Explorer Guide', 'Travel Handbook'])}"
    if category == "groceries":
        # Product lines get a model name only when the plain name is taken.
        line = f"{model} " if rng.random() < 0.6 else ""
        return f"{brand} {line}{_title(feature)} {_title(ptype)} {size}"
    if rng.random() < 0.5:
        return f"{brand} {model} {_title(feature)} {_title(ptype)}"
    return f"{brand} {model} {_title(ptype)}"


def _description(rng: random.Random, product: dict[str, Any], feature: str, use: str, unit: str | None) -> str:
    openers = _BOOK_OPENERS if product["category"] == "books" else _DESCRIPTION_OPENERS
    first = rng.choice(openers).format(
        name=product["name"],
        brand=product["brand"],
        a_feature=_with_article(feature, unit),
        ptype=product["product_type"],
        material=product["material"],
    )
    parts = [first, f"Made for {use}."]
    colors = product["colors"]
    if product["category"] not in ("books", "groceries"):
        parts.append(f"Available in {_join(colors)}." if len(colors) > 1 else f"Comes in {colors[0]}.")
    if product["category"] == "groceries":
        parts.append(f"Pack size: {product['sizes'][0]}.")
    elif len(product["sizes"]) > 3:
        parts.append(f"Sizes {product['sizes'][0]} to {product['sizes'][-1]}.")
    elif product["sizes"]:
        parts.append(f"Sizes: {', '.join(product['sizes'])}.")
    if product["rating"] >= 4.5 and product["review_count"] >= 50:
        parts.append(f"Rated {product['rating']:.1f} out of 5 by {product['review_count']} shoppers.")
    return " ".join(parts)


def generate_products(
    seed: int = 7, per_type: int = PRODUCTS_PER_TYPE, taxonomy: dict[str, Any] | None = None
) -> list[Product]:
    """Build the demo catalogue. Same seed and taxonomy -> identical products."""
    taxonomy = taxonomy or load_taxonomy()
    rng = random.Random(seed)
    models: list[str] = taxonomy["model_words"]
    products: list[Product] = []
    used_names: set[str] = set()
    span_days = (RELEASE_END - RELEASE_START).days
    for category, spec in taxonomy["categories"].items():
        for type_index, (ptype, tspec) in enumerate(spec["types"].items()):
            for _ in range(per_type):
                brand = rng.choice(spec["brands"])
                feature = rng.choice(tspec["features"])
                all_sizes = [str(s) for s in tspec.get("sizes", [])]
                pack = rng.choice(all_sizes) if category == "groceries" and all_sizes else None
                name = ""
                for _attempt in range(50):
                    name = _name(rng, category, ptype, brand, feature, rng.choice(models), pack)
                    if name not in used_names:
                        break
                else:
                    name = f"{name} {len(products)}"
                used_names.add(name)
                colors = rng.sample(tspec["colors"], k=min(len(tspec["colors"]), rng.choice([1, 1, 2, 3])))
                if pack:
                    sizes = [pack]
                elif all_sizes:
                    # A contiguous run of sizes, as real ranges are.
                    start = rng.randrange(0, max(1, len(all_sizes) - 2))
                    sizes = all_sizes[start : start + rng.randint(min(3, len(all_sizes)), len(all_sizes))]
                else:
                    sizes = []
                rating = round(min(5.0, max(1.0, rng.gauss(4.2, 0.45))), 1)
                reviews = int(rng.expovariate(1 / 180))
                stock = 0 if rng.random() < 0.07 else rng.randint(1, 250)
                released = RELEASE_START + dt.timedelta(days=rng.randrange(span_days))
                number = len(products) + 1
                fields: dict[str, Any] = dict(
                    id=f"P{number:05d}",
                    sku=f"{category[:3].upper()}-{type_index + 1:02d}-{number:05d}",
                    name=name,
                    brand=brand,
                    category=category,
                    product_type=ptype,
                    colors=colors,
                    sizes=sizes,
                    material=rng.choice(tspec["materials"]),
                    price=_price(rng, *tspec["price"]),
                    rating=rating,
                    review_count=reviews,
                    stock=stock,
                    release_date=released.isoformat(),
                    tags=sorted({*tspec["tags"], feature, category}),
                )
                colors_by_material = tspec.get("material_colors")
                if colors_by_material:  # a gold ring is gold: colour follows material
                    fields["colors"] = [colors_by_material[fields["material"]]]
                fields["description"] = _description(rng, fields, feature, tspec["use"], tspec.get("unit"))
                products.append(Product(**fields))
    return products
