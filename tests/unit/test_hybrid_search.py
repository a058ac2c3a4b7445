"""Hybrid search, spelling correction, vectors on disk and the catalogue importer, on real SQLite files."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catalog.importer import CatalogueFormatError, import_catalogue
from catalog.search import vectors as vectors_module
from catalog.search.hybrid import HybridSearch
from catalog.search.lexical import LexicalSearch, SearchResponse
from catalog.search.vectors import ProductVectors, TextEncoder
from catalog.store import Store
from language.fuzzy import VocabularyCorrector, phonetic_key
from tests.conftest import ROOT

RETAIL = ROOT.parent / "shared" / "data" / "catalog" / "retail_demo_store_products.yaml"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder()


@pytest.fixture(scope="module")
def hybrid(demo_db: Path, encoder: TextEncoder, tmp_path_factory: pytest.TempPathFactory) -> HybridSearch:
    path = tmp_path_factory.mktemp("hybrid") / "shop.db"
    shutil.copy(demo_db, path)
    return HybridSearch(Store(path), encoder)


@pytest.mark.parametrize(
    ("heard", "meant"), [("nikey", "nike"), ("addidas", "adidas"), ("fone", "phone"), ("kwik", "quick")]
)
def test_words_that_sound_alike_share_a_phonetic_key(heard: str, meant: str) -> None:
    assert phonetic_key(heard) == phonetic_key(meant)
    assert phonetic_key("nike") != phonetic_key("puma")


def test_corrector_fixes_only_words_the_catalogue_does_not_know() -> None:
    corrector = VocabularyCorrector(
        ["Nike", "Adidas", "bluetooth speaker", "running shoes"],
        known_words=["red", "shoes", "speaker", "for", "a", "cheap"],
    )
    assert corrector.correct("red nikey shoes")[0] == "red nike shoes"
    assert corrector.correct("addidas running shoes")[0] == "adidas running shoes"
    text, corrections = corrector.correct("a blu tooth speaker")
    assert text == "a bluetooth speaker"
    assert [(c.heard, c.meant) for c in corrections] == [("blu tooth", "bluetooth")]
    assert corrector.correct("cheap shoes for a runner") == ("cheap shoes for a runner", [])
    # The plural of a word the shop knows is left as said, not made singular.
    assert corrector.correct("cheap bluetooths") == ("cheap bluetooths", [])


def test_misheard_brands_find_the_brand(hybrid: HybridSearch) -> None:
    for heard in ("trail hawk hiking boots", "pacefeild running shoes", "chefrite frying pan"):
        query = hybrid.parse(heard)
        assert query.brand in {"Trailhawk", "Pacefield", "Chefwright"}, (heard, query)
        assert query.corrections, heard
        hits = hybrid.search(query).products
        assert hits and all(p.brand == query.brand for p in hits)


def test_meaning_finds_products_that_share_no_word_with_the_query(hybrid: HybridSearch, demo_db: Path) -> None:
    text = "stuff for my puppy"  # no product says "puppy"
    lexical = LexicalSearch(Store(demo_db))
    assert lexical.search(lexical.parse(text)).total == 0
    semantic = hybrid.search(hybrid.parse(text).merged(limit=5)).products
    assert len(semantic) == 5 and all(p.category == "pets" for p in semantic)


def test_what_the_shop_does_not_sell_is_never_presented_as_a_match(hybrid: HybridSearch) -> None:
    def ask(text: str) -> SearchResponse:
        return hybrid.search(hybrid.parse(text).merged(limit=5))

    # No product has these words ("car" is not "Carrow") and nothing is close in meaning.
    assert ask("car tyres").total == 0
    # Nothing is called that, but the shop has neighbours: shown as the closest, not as matches.
    mower = ask("a lawn mower")
    assert mower.closest_only and mower.hits and all(p.category == "garden" for p in mower.products)
    # "food" named the groceries, which hold nothing for dogs: the category is dropped, and said so.
    dog_food = ask("do you sell dog food")
    assert dog_food.relaxed == ["category"] and not dog_food.closest_only
    assert all("dog" in p.name.lower() for p in dog_food.products)
    for text in ("show me running shoes", "waterproof jacket", "lightweight red running shoes", "a blender"):
        assert not ask(text).closest_only, text


def test_hybrid_keeps_structured_filters_and_sorting(hybrid: HybridSearch) -> None:
    query = hybrid.parse("lightweight red running shoes under 100 cheapest first").merged(limit=20)
    response = hybrid.search(query)
    assert response.total > 0 and not response.relaxed
    products = response.products
    assert all(p.product_type == "running shoes" and "red" in p.colors and p.price <= 100 for p in products)
    in_stock = [p.price for p in products if p.stock > 0]
    assert in_stock == sorted(in_stock)
    assert all(h.score > 0 for h in response.hits)
    # Words nothing matches are soft: the filters still answer, none of them dropped.
    soft = hybrid.search(hybrid.parse("comfortable red running shoes under 100").merged(limit=20))
    assert soft.total > 0 and not soft.relaxed
    assert all(p.product_type == "running shoes" and "red" in p.colors and p.price <= 100 for p in soft.products)


@pytest.mark.parametrize(
    "text", ["", "   ", "<img src=x onerror=alert(1)> speaker", "x" * 10_000, "🛒 😀", '"quoted" AND OR NOT * speaker']
)
def test_odd_queries_do_not_break_search(hybrid: HybridSearch, text: str) -> None:
    response = hybrid.search(hybrid.parse(text))
    assert response.total >= 0
    assert all("<img" not in (p.name or "") for p in response.products)


def test_vectors_are_saved_next_to_the_database_and_refreshed_when_products_change(
    demo_db: Path, encoder: TextEncoder, tmp_path: Path
) -> None:
    path = tmp_path / "shop.db"
    shutil.copy(demo_db, path)
    store = Store(path)
    first = ProductVectors.for_store(store, encoder, progress=False)
    saved, _ = ProductVectors.paths(path)
    assert saved.exists() and len(first.ids) == store.product_count()
    stamp = saved.stat().st_mtime_ns
    again = ProductVectors.for_store(store, encoder, progress=False)
    assert saved.stat().st_mtime_ns == stamp and again.fingerprint == first.fingerprint
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE products SET name = 'Renamed Lamp' WHERE id = (SELECT MIN(id) FROM products)")
    refreshed = ProductVectors.for_store(store, encoder, progress=False)
    assert refreshed.fingerprint != first.fingerprint and saved.stat().st_mtime_ns != stamp


def test_a_copy_with_the_same_products_is_not_embedded_again(
    demo_db: Path, encoder: TextEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ProductVectors.for_store(Store(demo_db), encoder, progress=False)  # fills the cache if it is empty
    copy = tmp_path / "copy.db"
    shutil.copy(demo_db, copy)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the same products were embedded twice")

    monkeypatch.setattr(encoder, "encode", refuse)
    vectors = ProductVectors.for_store(Store(copy), encoder, progress=False)
    assert len(vectors.ids) == Store(copy).product_count() and ProductVectors.paths(copy)[0].exists()


def test_fast_query_embedding_matches_the_full_model(encoder: TextEncoder) -> None:
    import numpy as np

    for text in ("stuff puppy", "wireless earbuds for the gym", "gift for a coffee lover", "x", "🙂 " * 300):
        fast, full = encoder.encode_query(text), encoder.encode([text])[0]
        assert fast.shape == full.shape and abs(float(np.linalg.norm(fast)) - 1) < 1e-4
        assert float(fast @ full) > 0.94, text  # per-channel int8: 0.95+ measured; per-tensor gave 0.89


def test_ann_index_agrees_with_exact_search(
    hybrid: HybridSearch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    exact = hybrid.vectors
    monkeypatch.setattr(vectors_module, "ANN_THRESHOLD", 100)
    ann = ProductVectors(exact.ids, exact.matrix, exact.fingerprint)
    ann.build_index()
    assert ann.index is not None
    ann.save(tmp_path / "x.db")
    loaded = ProductVectors.load(tmp_path / "x.db")
    assert loaded is not None and loaded.index is not None
    agree = 0
    for text in ("wireless earbuds for the gym", "a warm blanket", "gift for a coffee lover", "pen for writing"):
        q = hybrid.encoder.encode([text])[0]
        agree += len({i for i, _ in exact.search(q, 10)} & {i for i, _ in loaded.search(q, 10)})
    assert agree >= 36  # HNSW recall@10 >= 0.9 on these


def test_importer_keeps_ids_reads_colours_and_skips_bad_records(tmp_path: Path) -> None:
    source = tmp_path / "shop.csv"
    source.write_text(
        "sku,title,price,qty,style,department,blurb\n"
        "A-1,Navy Canvas Tote,24.50,3,tote,bags,A roomy navy bag\n"
        "A-2,,10,1,tote,bags,no name\n"
        "A-3,Red Leather Wallet,$35,0,wallet,bags,Slim and red\n"
    )
    db, count, problems = import_catalogue(
        source, tmp_path / "imported.db", mapping={"description": "blurb"}, progress=False
    )
    assert count == 2 and len(problems) == 1 and "record 2" in problems[0]
    store = Store(db)
    tote = store.product("A-1")
    assert tote is not None and tote.price == 24.5 and tote.stock == 3 and tote.product_type == "tote"
    assert tote.colors == ["navy"] and tote.description == "A roomy navy bag"
    assert store.product("A-3").stock == 0  # type: ignore[union-attr]
    with pytest.raises(CatalogueFormatError, match="unsupported"):
        import_catalogue(
            source.with_suffix(".txt").write_text("x") and source.with_suffix(".txt"), tmp_path / "x.db", progress=False
        )


@pytest.mark.slow  # imports and embeds 2,465 products in a new process
def test_real_catalogue_imports_and_searches_through_the_cli(tmp_path: Path, encoder: TextEncoder) -> None:
    if not RETAIL.exists():
        pytest.skip(f"{RETAIL} is absent (../shared not checked out)")
    db = tmp_path / "retail.db"
    done = subprocess.run(
        [sys.executable, "-m", "catalog", "import", str(RETAIL), "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert "Imported 2465 products" in done.stdout
    out = subprocess.run(
        [sys.executable, "-m", "catalog", "search", "--db", str(db), "--json", "--limit", "5", "backpack for hiking"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert len(result["results"]) == 5
    for item in result["results"]:
        assert {"id", "name", "price", "score"} <= set(item)
    assert any("backpack" in item["name"].lower() for item in result["results"][:3])
    store = Store(db)
    first = store.product(result["results"][0]["id"])
    assert first is not None and len(first.id) == 36  # the source's UUIDs, kept
    # Misspelled product words the real catalogue's names share are corrected to them.
    searcher = HybridSearch(store, encoder)
    for typed, meant in (("suculent", "succulent"), ("kyak", "kayak")):
        query = searcher.parse(typed)
        assert (typed, meant) in query.corrections
        assert any(meant in p.name.lower() for p in searcher.search(query).products[:3]), typed


MESSY_FEED = """id,name,price,category,product_type,description
B1,Blush Crossbody Bag,79,accessories,handbag,A small leather bag worn across the body.
B2,Canvas Crossbody Bag,39,accessories,bag,A light canvas bag worn across the body.
B3,Weekender Duffel Bag,129,accessories,bag,A roomy leather bag for short trips.
B4,Rugged Trail Backpack,89,accessories,backpack,A nylon backpack for long hikes.
K1,Ceramic Plate Set,39,housewares,kitchen,Four stoneware dinner plates.
K2,Copper Pour-Over Kettle,49,housewares,kitchen,A kettle with a long spout.
T1,Mechanic Socket Set,129,tools,set,Sockets and a ratchet in a case.
T2,Drill Bit Set,29,tools,set,Twenty bits for wood and metal.
C1,Marble Wall Clock,129,homedecor,clock,A quiet wall clock in white marble.
C2,Brass Mantel Clock,89,homedecor,clock,A mantel clock with a brass case.
E1,Pearl Stud Earrings,49,jewelry,earrings,Small studs that sit close to the ear.
E2,Crystal Drop Earrings,59,jewelry,earrings,Long earrings that dangle and catch the light.
"""


@pytest.fixture(scope="module")
def messy(encoder: TextEncoder, tmp_path_factory: pytest.TempPathFactory) -> HybridSearch:
    """A shop whose own types are as messy as real feeds: crossbody bags filed as handbags and as
    bags, plate sets as kitchen, tool sets as "set"."""
    folder = tmp_path_factory.mktemp("messy")
    (folder / "feed.csv").write_text(MESSY_FEED)
    db, _, _ = import_catalogue(folder / "feed.csv", folder / "shop.db", progress=False)
    return HybridSearch(Store(db), encoder)


def test_a_type_is_what_a_products_type_or_name_says(messy: HybridSearch) -> None:
    def top(text: str) -> list[str]:
        return [p.id for p in messy.search(messy.parse(text).merged(limit=5)).products]

    # "bag" is one shop type, but a bag filed as a handbag is a bag too.
    assert set(top("crossbody bag")[:2]) == {"B1", "B2"}
    # "set" is the tools' type here; a plate set is still a set, and the one asked for.
    assert top("ceramic plate set")[0] == "K1"
    # "kitchen" is a type of this shop, but here it only says where the clock goes.
    assert top("a wall clock for my kitchen")[0] == "C1"
    # A type the words agree with stays a filter.
    assert set(top("tool set")) <= {"T1", "T2"} and top("tool set")


def test_words_the_shopper_rules_out_are_not_shown(messy: HybridSearch) -> None:
    parsed = messy.parse("earrings that don't dangle")
    assert parsed.excluded == ["dangle"] and parsed.product_type == "earrings"
    assert [p.id for p in messy.search(parsed.merged(limit=5)).products] == ["E1"]
    not_leather = messy.parse("i don't want leather, show me bags")
    assert not_leather.excluded == ["leather"] and not_leather.material is None
    shown = {p.id for p in messy.search(not_leather.merged(limit=5)).products}
    assert "B2" in shown and not shown & {"B1", "B3"}
    assert messy.parse("headphones without a cable").excluded == ["cable"]
    assert messy.parse("no wait, show me the red one").excluded == []
    # A follow-up keeps what was ruled out.
    cheaper = messy.parse("cheaper", base=not_leather)
    assert cheaper.excluded == ["leather"]


class _Interrupted(Exception):
    pass


class _StopsAfter:
    """The real encoder, with the import interrupted (as by Ctrl-C) after ``calls`` batches."""

    def __init__(self, encoder: TextEncoder, calls: int) -> None:
        self.encoder, self.calls, self.texts = encoder, calls, 0
        self.dimension = encoder.dimension

    def encode(self, texts: list[str]) -> object:
        if self.calls == 0:
            raise _Interrupted
        self.calls -= 1
        self.texts += len(texts)
        return self.encoder.encode(texts)


def test_an_interrupted_embedding_goes_on_where_it_stopped(
    messy: HybridSearch, encoder: TextEncoder, tmp_path: Path
) -> None:
    store = messy.store
    unfinished = tmp_path / "shop.db.vectors.partial"
    with pytest.raises(_Interrupted):
        ProductVectors.build(store, _StopsAfter(encoder, 2), progress=False, batch=4, resume=unfinished)  # type: ignore[arg-type]
    assert len(list(unfinished.glob("*.npz"))) == 2  # two batches of four kept
    again = _StopsAfter(encoder, 100)
    resumed = ProductVectors.build(store, again, progress=False, batch=4, resume=unfinished)  # type: ignore[arg-type]
    assert again.texts == store.product_count() - 8, "only the products not yet embedded"
    fresh = ProductVectors.build(store, encoder, progress=False, batch=4)
    assert resumed.ids == fresh.ids and np.allclose(resumed.matrix, fresh.matrix, atol=1e-5)
    # Kept batches of another catalogue are not used.
    (unfinished / "fingerprint").write_text("another shop")
    other = _StopsAfter(encoder, 100)
    ProductVectors.build(store, other, progress=False, batch=4, resume=unfinished)  # type: ignore[arg-type]
    assert other.texts == store.product_count()
