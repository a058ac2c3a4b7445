"""A shop's own catalogue: once imported, make run never replaces it with the demo shop, and the
NLU's lookup tables follow it (rewritten only when its vocabulary changed, so training reruns only then)."""

from __future__ import annotations

from pathlib import Path

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
