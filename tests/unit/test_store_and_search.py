"""Repository rules and search over a real SQLite demo shop."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest

from catalog.demo.orders import DEMO_EMAIL
from catalog.search.lexical import LexicalSearch
from catalog.search.query import SearchQuery
from catalog.store import Store, StoreError
from tests.conftest import ROOT


def test_search_applies_every_parsed_filter(searcher: LexicalSearch) -> None:
    query = searcher.parse("red running shoes under 100")
    assert (query.product_type, query.color, query.price_max) == ("running shoes", "red", 100.0)
    response = searcher.search(query.merged(limit=50))
    assert response.total > 0 and not response.relaxed
    for p in response.products:
        assert p.product_type == "running shoes" and "red" in p.colors and p.price <= 100


@pytest.mark.parametrize(
    "text, field, value",
    [
        ("hoodies between 20 and 40 dollars", "price_min", 20.0),
        ("hoodies between 20 and 40 dollars", "price_max", 40.0),
        ("laptop over $800", "price_min", 800.0),
        ("yoga mat under fifty dollars", "price_max", 50.0),
        ("Trailhawk hiking boots size 9", "brand", "Trailhawk"),
        ("Trailhawk hiking boots size 9", "size", "9"),
        ("t-shirt in size xl", "size", "XL"),
        ("gray hoodie", "color", "grey"),
        ("jewelry", "category", "jewellery"),
        ("cheapest headphones", "sort", "price_asc"),
        ("best rated blender", "sort", "rating"),
    ],
)
def test_query_understanding(searcher: LexicalSearch, text: str, field: str, value: object) -> None:
    assert getattr(searcher.parse(text), field) == value


def test_sorting_by_price_and_rating(searcher: LexicalSearch) -> None:
    by_price = searcher.search(SearchQuery(product_type="headphones", sort="price_asc", limit=20)).products
    assert [p.price for p in by_price] == sorted(p.price for p in by_price)
    by_rating = searcher.search(SearchQuery(category="kitchen", sort="rating", limit=20)).products
    assert [p.rating for p in by_rating] == sorted((p.rating for p in by_rating), reverse=True)


def test_free_text_ranks_name_matches_first(searcher: LexicalSearch) -> None:
    hits = searcher.search(searcher.parse("waterproof bluetooth speaker")).products
    assert hits and all(p.product_type == "bluetooth speaker" for p in hits)
    assert "waterproof" in hits[0].name.lower()


def test_impossible_filters_are_relaxed_and_reported(searcher: LexicalSearch) -> None:
    response = searcher.search(SearchQuery(product_type="laptop", color="pink", price_max=5))
    assert response.total > 0
    assert "color" in response.relaxed and "price_max" in response.relaxed


def test_markup_and_huge_queries_are_safe(searcher: LexicalSearch) -> None:
    query = searcher.parse('<img src=x onerror=alert(1)> lamp "OR" NEAR(')
    assert "<" not in query.text and "lamp" in query.text
    assert searcher.search(query).total > 0
    assert searcher.search(searcher.parse("shoes " * 5000)).total > 0
    assert searcher.search(searcher.parse("")).total > 0  # browsing


def test_unknown_words_return_nothing_rather_than_noise(searcher: LexicalSearch) -> None:
    assert searcher.search(searcher.parse("xylophone zeppelin")).total == 0


def test_orders_verify_only_with_the_right_email(store: Store) -> None:
    assert store.verify("10001", DEMO_EMAIL) is not None
    assert store.verify("10001", DEMO_EMAIL.upper()) is not None
    assert store.verify("10001", "someone@example.com") is None
    assert store.verify("99999", DEMO_EMAIL) is None


def test_create_order_takes_stock_and_cancel_returns_it(store: Store) -> None:
    product = next(p for p in store.products([f"P{i:05d}" for i in range(1, 50)]) if p.stock >= 3)
    order = store.create_order("C0001", [(product.id, 2)])
    assert order.status == "processing" and order.total == round(product.price * 2, 2)
    assert store.product(product.id).stock == product.stock - 2  # type: ignore[union-attr]
    assert store.order(order.id) == order
    cancelled = store.cancel_order(order.id)
    assert cancelled.status == "cancelled"
    assert store.product(product.id).stock == product.stock  # type: ignore[union-attr]
    with pytest.raises(StoreError, match="already cancelled"):
        store.cancel_order(order.id)


def test_shipped_orders_cannot_be_cancelled_or_readdressed(store: Store) -> None:
    with pytest.raises(StoreError, match="shipped"):
        store.cancel_order("10002")
    with pytest.raises(StoreError, match="shipped"):
        store.change_shipping_address("10002", "1 New Road, Springfield, IL 62701")
    updated = store.change_shipping_address("10001", "1 New Road, Springfield, IL 62701")
    assert updated.shipping_address == "1 New Road, Springfield, IL 62701"


def test_cart_checkout_refuses_more_than_stock(store: Store) -> None:
    product = store.products(["P00010"])[0]
    with pytest.raises(StoreError, match="left in stock"):
        store.create_order("C0001", [(product.id, product.stock + 1)])
    with pytest.raises(StoreError, match="empty"):
        store.create_order("C0001", [])


def test_returns_follow_the_window(store: Store) -> None:
    recent, old = store.order("10003"), store.order("10004")
    assert recent and old
    assert store.return_eligibility(recent)[0]
    ok, why = store.return_eligibility(old)
    assert not ok and "return window" in why
    ret = store.create_return("10003", "too small")
    assert ret.status == "requested" and ret.refund_amount == recent.total
    assert not store.return_eligibility(recent)[0]  # one return per order
    with pytest.raises(StoreError):
        store.create_return("10001", "changed my mind")  # not delivered yet
    later = dt.date.fromisoformat(recent.delivered_at or "") + dt.timedelta(days=31)
    assert not store.return_eligibility(store.order("10003"), today=later)[0]  # type: ignore[arg-type]


def test_feedback_newsletter_and_handoff_are_stored(store: Store) -> None:
    store.add_feedback("complaint", "  parcel   was late ", "C0001", "s1")
    assert store.feedback("complaint")[-1]["text"] == "parcel was late"
    with pytest.raises(StoreError):
        store.add_feedback("review", "   ")
    assert store.subscribe("new.person@example.com") is True
    assert store.subscribe("NEW.person@example.com") is False
    store.add_handoff("s1", {"last_turns": [{"text": "help"}]}, reason="contact_human_agent")
    assert store.handoffs()[-1]["summary"]["last_turns"][0]["text"] == "help"


@pytest.mark.slow  # a new process loads the sentence encoder
def test_cli_search_json_contract(demo_db) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "catalog",
            "search",
            "--db",
            str(demo_db),
            "--json",
            "--limit",
            "3",
            "brown hiking boots",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert 0 < len(data["results"]) <= 3
    for item in data["results"]:
        assert {"id", "name", "price", "score"} <= set(item)
        assert "brown" in item["colors"] and item["product_type"] == "hiking boots"


def test_cli_show_unknown_id_fails_clearly(demo_db) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "catalog", "--db", str(demo_db), "show", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "No product with id nope" in result.stderr


def test_lookup_tables_are_in_sync_with_the_catalogue(demo_db) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nlu.lookups", "--check", "--db", str(demo_db)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_lookup_tables_come_from_the_shop_database_so_an_imported_catalogue_reaches_the_nlu(tmp_path) -> None:
    from catalog import import_catalogue
    from nlu.lookups import render

    source = tmp_path / "shop.csv"
    source.write_text(
        "id,title,price,brand,style,colour\n"
        "A1,Zephyrline Oolong Tea Tin,12.5,Zephyrline,loose leaf tea,teal\n"
        "A2,Quillmark Walnut Desk Tray,30,Quillmark,desk tray,walnut brown\n"
    )
    db, count, _ = import_catalogue(source, tmp_path / "shop.db", mapping={"product_type": "style"}, progress=False)
    assert count == 2
    tables = render(db)
    brands = tables.split("- lookup: brand")[1].split("- lookup:")[0]
    types = tables.split("- lookup: product_type")[1].split("- lookup:")[0]
    assert "Zephyrline" in brands and "Quillmark" in brands
    assert "loose leaf tea" in types and "desk tray" in types
    assert "Trailhawk" not in tables, "nothing of the demo shop leaks into another shop's tables"
