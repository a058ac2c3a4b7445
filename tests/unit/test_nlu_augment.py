"""Training examples re-told with the shop's own lookup values (nlu/augment.py)."""

from __future__ import annotations

import random

from rasa.shared.nlu.training_data.loading import load_data

from nlu.augment import retold, with_lookup_values
from nlu.joint_model import Example, Span
from nlu.transformer_classifier import lookup_tables
from tests.conftest import ROOT

TABLES = {"brand": ["Mauve & Co", "Northwind", "Sonique"], "product_type": ["yoga mat", "kettle"]}


def _entities(example: Example) -> list[tuple[str, str]]:
    return [(example.text[s.start : s.end], s.label) for s in example.spans]


def test_every_looked_up_entity_is_replaced_and_its_span_follows_the_new_text() -> None:
    text = "show me Sonique headphones under 50"
    example = Example(
        text, "search_products", (Span(8, 15, "brand"), Span(16, 26, "product_type"), Span(33, 35, "price_max"))
    )
    for seed in range(20):
        copy = retold(example, TABLES, random.Random(seed))
        assert copy is not None and copy.intent == "search_products"
        (brand, _), (ptype, _), (price, _) = _entities(copy)
        assert brand.lower() in {"mauve & co", "northwind"}  # never the value it replaced
        assert ptype.lower() in {"yoga mats", "kettles"}  # plural, as the replaced "headphones" was
        assert price == "50" and copy.text.startswith("show me ") and copy.text.endswith(" under 50")


def test_examples_without_looked_up_entities_are_not_copied() -> None:
    plain = Example("where is my order", "track_order")
    priced = Example("under 40 please", "refine_search", (Span(6, 8, "price_max"),))
    assert retold(plain, TABLES, random.Random(0)) is None
    assert retold(priced, TABLES, random.Random(0)) is None
    assert with_lookup_values([plain, priced], TABLES, copies=3, seed=1) == [plain, priced]


def test_copies_are_added_after_the_originals_and_zero_turns_it_off() -> None:
    example = Example("anything from Sonique", "search_products", (Span(14, 21, "brand"),))
    assert with_lookup_values([example], TABLES, copies=0, seed=1) == [example]
    grown = with_lookup_values([example], TABLES, copies=2, seed=1)
    assert grown[0] == example and len(grown) == 3
    assert all(_entities(e)[0][0].lower() in {"mauve & co", "northwind"} for e in grown[1:])


def test_the_project_lookup_tables_reach_the_component() -> None:
    tables = lookup_tables(load_data(str(ROOT / "data" / "nlu")))
    assert {"brand", "product_type", "color", "material", "category"} <= set(tables)
    assert "Trailhawk" in tables["brand"] and "yoga mat" in tables["product_type"]
