"""Import a real catalogue (CSV, JSON or YAML) into a shop database, keeping the source's ids.

Source fields are found by common names ("title" or "name", "current_stock" or "stock"...); a
mapping overrides them: ``{"product_type": "style", "stock": "qty"}``. Colours missing from the
source are read from the name and description, so "red" still filters an imported catalogue; types
and categories missing from it are inferred from the names and the rest of the catalogue.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from catalog.db import connect, create_schema, db_path, insert_products
from catalog.models import Product
from catalog.store import Store

# Our field -> source field names tried in order (case-insensitive).
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "id": ("id", "product_id", "productid", "item_id", "sku"),
    "sku": ("sku", "item_code", "code"),
    "name": ("name", "title", "product_name", "product"),
    "brand": ("brand", "manufacturer", "vendor", "make"),
    "category": ("category", "department", "main_category"),
    "product_type": ("product_type", "type", "style", "subcategory", "sub_category"),
    "colors": ("colors", "colours", "color", "colour"),
    "sizes": ("sizes", "size"),
    "material": ("material", "fabric"),
    "price": ("price", "unit_price", "list_price", "sale_price"),
    "rating": ("rating", "stars", "average_rating"),
    "review_count": ("review_count", "reviews", "num_reviews", "rating_count"),
    "stock": ("stock", "current_stock", "inventory", "quantity", "qty"),
    "release_date": ("release_date", "created_at", "date_added", "added", "launch_date"),
    "description": ("description", "details", "body", "summary"),
    "tags": ("tags", "keywords", "labels"),
}
# Colour words looked for in names and descriptions when the source has no colour field.
COLOUR_WORDS = (
    "black white grey gray silver gold red pink purple blue navy teal green olive yellow orange brown "
    "beige tan khaki cream ivory maroon burgundy mauve turquoise coral charcoal caramel"
).split()


# A name's last word is taken as the type of products without one when this many names end in it.
SHARED_HEAD = 3


class CatalogueFormatError(ValueError):
    """The file cannot be read as a catalogue (message says why)."""


def read_records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        return [dict(row) for row in csv.DictReader(text.splitlines())]
    if suffix in (".json", ".yaml", ".yml"):
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
        if isinstance(data, dict):
            data = next((v for v in data.values() if isinstance(v, list)), None)
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise CatalogueFormatError(f"{path}: expected a list of products (or an object holding one).")
        return data
    raise CatalogueFormatError(f"{path}: unsupported format {suffix!r}; use .csv, .json, .yaml or .yml.")


def _lookup(record: Mapping[str, Any], names: Iterable[str]) -> Any:
    lowered = {str(k).lower().strip(): v for k, v in record.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in re.split(r"[|;,/]", str(value)) if part.strip()]


def _number(value: Any, default: float = 0.0) -> float:
    try:
        return float(str(value).replace("$", "").replace(",", "").strip())
    except (TypeError, ValueError):
        return default


def _colours_in(text: str) -> list[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    found = [c for c in COLOUR_WORDS if c in words]
    return ["grey" if c == "gray" else c for c in dict.fromkeys(found)]


def to_product(record: Mapping[str, Any], mapping: Mapping[str, str] | None = None) -> Product:
    """One source record as a Product; raises CatalogueFormatError when id, name or price is missing."""

    def get(field: str) -> Any:
        if mapping and field in mapping:
            return _lookup(record, [mapping[field]])
        return _lookup(record, FIELD_NAMES[field])

    pid, name, price = get("id"), get("name"), get("price")
    if pid is None or name is None or price is None:
        raise CatalogueFormatError(f"record without id, name or price: {dict(list(record.items())[:4])}")
    description = str(get("description") or "")
    colors = _as_list(get("colors")) or _colours_in(f"{name} {description}")
    tags = _as_list(get("tags"))
    gender = _lookup(record, ["gender_affinity", "gender"])
    if gender in ("F", "M"):
        tags.append("women" if gender == "F" else "men")
    category = str(get("category") or "").strip().lower()  # missing ones are inferred (fill_missing_kinds)
    return Product(
        id=str(pid),
        sku=str(get("sku") or pid),
        name=str(name).strip(),
        brand=str(get("brand") or "").strip(),
        category=category,
        product_type=str(get("product_type") or "").strip().lower(),
        colors=[c.lower() for c in colors],
        sizes=_as_list(get("sizes")),
        material=str(get("material") or ""),
        price=round(_number(price), 2),
        rating=_number(get("rating")),
        review_count=int(_number(get("review_count"))),
        stock=int(_number(get("stock"), 1)),
        release_date=str(get("release_date") or "")[:10],
        description=description,
        tags=tags,
    )


def _last_word(name: str) -> str:
    words = re.findall(r"[a-z]+", name.lower())
    return words[-1] if words else ""


def fill_missing_kinds(products: list[Product]) -> list[Product]:
    """Types and categories a source lacks, inferred from the catalogue itself.

    A product without a type gets the last word of its name when at least ``SHARED_HEAD`` products'
    names end in it ("Trail Running Shoes", "Road Running Shoes": shoes), else its category. A product
    without a category gets the category most products of its type carry, else "general". A source's
    own values are never changed."""
    heads = Counter(_last_word(p.name) for p in products)
    typed = [
        p if p.product_type else replace(p, product_type=h if heads[h := _last_word(p.name)] >= SHARED_HEAD else "")
        for p in products
    ]
    votes: dict[str, Counter[str]] = {}
    for p in typed:
        if p.category and p.product_type:
            votes.setdefault(p.product_type, Counter())[p.category] += 1
    out = []
    for p in typed:
        category = p.category or (votes[p.product_type].most_common(1)[0][0] if p.product_type in votes else "general")
        out.append(replace(p, category=category, product_type=p.product_type or category))
    return out


def import_catalogue(
    source: str | os.PathLike[str],
    db: str | os.PathLike[str] | None = None,
    mapping: Mapping[str, str] | None = None,
    progress: bool = True,
) -> tuple[Path, int, list[str]]:
    """Add (or update) the products in ``source`` to the database; returns (db, imported, problems)."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"No catalogue file at {path}.")
    unknown = set(mapping or {}) - set(FIELD_NAMES)
    if unknown:
        raise CatalogueFormatError(f"unknown target field(s) in the mapping: {', '.join(sorted(unknown))}")
    products: dict[str, Product] = {}
    problems: list[str] = []
    for i, record in enumerate(tqdm(read_records(path), desc="reading", unit="record", disable=not progress)):
        try:
            product = to_product(record, mapping)
        except CatalogueFormatError as error:
            problems.append(f"record {i + 1}: {error}")
            continue
        products[product.id] = product
    products = {p.id: p for p in fill_missing_kinds(list(products.values()))}
    target = db_path(db)
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(target)
    try:
        with conn:
            create_schema(conn)
            insert_products(conn, list(products.values()), progress=progress)
            conn.execute(
                "INSERT INTO imports (source, products, at) VALUES (?, ?, ?)",
                (path.name, len(products), dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")),
            )
    finally:
        conn.close()
    # The feed's stock levels are what the shop can sell now, on every node.
    store = Store(target)
    try:
        store.set_stock({p.id: p.stock for p in products.values()})
    finally:
        store.close()
    return target, len(products), problems
