"""A shop's own catalogue: once imported, make run never replaces it with the demo shop, and the
NLU's lookup tables follow it (rewritten only when its vocabulary changed, so training reruns only then)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog.cli import main as catalog_cli
from catalog.db import imported_catalogues
from catalog.importer import import_catalogue
from catalog.store import Store
from nlu.lookups import main as lookups_main

FEED = "id,name,price,brand,category,product_type\nZX-1,Zephyrine Kettle Drum,249.00,Zephyrine,music,drum\n"


def _import(shop_db: Path, tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED, encoding="utf-8")
    import_catalogue(feed, shop_db, progress=False)


def test_rebuilding_the_demo_shop_never_replaces_an_imported_catalogue(shop_db: Path, tmp_path: Path) -> None:
    assert imported_catalogues(shop_db) == 0  # the demo shop may be rebuilt when its sources change
    _import(shop_db, tmp_path)
    assert imported_catalogues(shop_db) == 1
    assert catalog_cli(["--db", str(shop_db), "build", "--force"]) == 0  # what make run does
    assert Store(shop_db).product("ZX-1") is not None, "the imported catalogue is still there"


def test_lookup_tables_follow_the_shop_and_change_only_with_it(shop_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "lookups.yml"
    assert lookups_main(["--db", str(shop_db), "--out", str(out)]) == 0
    written = out.stat().st_mtime_ns
    assert lookups_main(["--db", str(shop_db), "--out", str(out)]) == 0
    assert out.stat().st_mtime_ns == written, "unchanged vocabulary: the file (and so the model) is left alone"
    assert "Zephyrine" not in out.read_text(encoding="utf-8")

    _import(shop_db, tmp_path)
    assert lookups_main(["--db", str(shop_db), "--out", str(out), "--check"]) == 1
    assert lookups_main(["--db", str(shop_db), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "    - Zephyrine" in text and "    - drum" in text


def test_hints_name_what_this_shop_sells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shop of furniture is not told to try hiking boots: the greeting, the help and the empty
    search's hint give a request built from the shop's own types, colours and prices."""
    from actions.common import reset_shop_connection
    from actions.greeting import ActionGreet, ActionHelp
    from actions.shopping import ActionSearchProducts
    from tests.actions_helpers import run, tracker

    feed = tmp_path / "furniture.csv"
    rows = [f"F{i},Oak Dining Table {i},{300 + 10 * i},Woodhall,furniture,dining table,brown" for i in range(5)]
    rows += [f"C{i},Linen Armchair {i},{150 + i},Woodhall,furniture,armchair,grey" for i in range(3)]
    feed.write_text("id,name,price,brand,category,product_type,color\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db, _, _ = import_catalogue(feed, tmp_path / "furniture.db", progress=False)
    assert Store(db).example_search() == "brown dining table under 500"
    monkeypatch.setenv("SHOPKEEPER_DB", str(db))
    reset_shop_connection()
    try:
        for reply in (
            run(ActionGreet(), tracker("hi", "greet"))[2],
            run(ActionHelp(), tracker("help", "help"))[2],
            run(ActionSearchProducts(), tracker("show me", "search_products"))[2],
        ):
            assert '"brown dining table under 500"' in reply and "boots" not in reply, reply
    finally:
        reset_shop_connection()


def test_types_and_categories_a_source_lacks_are_inferred(tmp_path: Path) -> None:
    feed = tmp_path / "bare.csv"
    rows = [
        "1,Trail Running Shoes,90,footwear",
        "2,Road Running Shoes,80,",
        "3,Kids Running Shoes,40,",
        "4,Canvas Tote,25,",
        "5,Wool Beanie,15,hats",
    ]
    feed.write_text("id,name,price,category\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db, _, _ = import_catalogue(feed, tmp_path / "bare.db", progress=False)
    store = Store(db)
    kinds = {p.id: (p.product_type, p.category) for p in store.products(["1", "2", "3", "4", "5"])}
    assert kinds["1"] == ("shoes", "footwear"), "three names end in shoes: that is their type"
    assert kinds["2"] == kinds["3"] == ("shoes", "footwear"), "the category the other shoes carry"
    assert kinds["4"] == ("general", "general"), "a name's word shared by no other product says nothing"
    assert kinds["5"] == ("hats", "hats"), "a source's category is kept; without a type, it stands in"


def test_synonyms_map_other_written_forms_to_the_shop_value_and_never_change_one_value_into_another() -> None:
    from nlu.lookups import synonyms

    tables = {
        "brand": ["Linden & Co", "Kite-Works"],
        "product_type": ["yoga mat", "chef knife", "t-shirt", "glass", "glasses"],
        "color": ["navy"],
        "material": ["glass"],
        "category": ["kitchen"],
    }
    found = synonyms(tables)
    assert set(found["Linden & Co"]) == {"linden and co", "linden co"}
    assert set(found["Kite-Works"]) >= {"kite works", "kiteworks"}
    assert found["yoga mat"] == ["yoga mats"] and found["chef knife"] == ["chef knives"]
    assert {"t shirt", "tshirt", "t-shirts", "t shirts"} <= set(found["t-shirt"])
    # "glasses" is a value of its own, so "glass" never claims it; a form two values share maps to neither.
    assert "glass" not in found and all("glasses" not in forms for forms in found.values())
