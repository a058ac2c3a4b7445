"""The demo catalogue and store data: size, determinism, and agreement of text with attributes."""

import datetime as dt
from pathlib import Path

from catalog.demo.orders import DEMO_EMAIL, generate_store_data
from catalog.demo.products import generate_products, load_taxonomy


def test_catalogue_is_large_varied_and_deterministic() -> None:
    products = generate_products()
    assert len(products) >= 1500
    assert len({p.category for p in products}) >= 12
    assert len({p.id for p in products}) == len(products)
    assert len({p.name for p in products}) == len(products)
    assert [p.to_dict() for p in products[:50]] == [p.to_dict() for p in generate_products()[:50]]
    assert generate_products(seed=8)[0].to_dict() != products[0].to_dict()


def test_every_product_agrees_with_its_taxonomy() -> None:
    taxonomy = load_taxonomy()["categories"]
    for p in generate_products():
        spec = taxonomy[p.category]["types"][p.product_type]
        low, high = spec["price"]
        assert low <= p.price <= high + 1, p
        assert set(p.colors) <= set(spec["colors"]) and p.colors, p
        assert p.material in spec["materials"], p
        assert set(p.sizes) <= {str(s) for s in spec.get("sizes", [])}, p
        assert 1.0 <= p.rating <= 5.0 and p.review_count >= 0 and p.stock >= 0
        assert p.brand in taxonomy[p.category]["brands"]
        dt.date.fromisoformat(p.release_date)


def test_descriptions_mention_the_real_attributes() -> None:
    for p in generate_products():
        assert p.material in p.description, p
        if p.category not in ("books", "groceries"):
            assert all(c in p.description for c in p.colors), p
        if p.category != "books":
            assert p.product_type in p.description.lower() or p.name in p.description, p


def test_store_data_has_fixed_demo_orders_relative_to_today() -> None:
    today = dt.date(2026, 6, 1)
    data = generate_store_data(generate_products(), as_of=today)
    by_id = {o.id: o for o in data.orders}
    alex = next(c for c in data.customers if c.email == DEMO_EMAIL)
    assert [by_id[str(i)].status for i in range(10001, 10006)] == [
        "processing",
        "shipped",
        "delivered",
        "delivered",
        "cancelled",
    ]
    assert all(by_id[str(i)].customer_id == alex.id for i in range(10001, 10006))
    shipped = by_id["10002"]
    assert shipped.carrier and shipped.tracking_number and shipped.eta
    assert by_id["10003"].delivered_at == "2026-05-22"
    assert {o.status for o in data.orders} == {"processing", "shipped", "delivered", "cancelled"}
    assert len({c.email for c in data.customers}) == len(data.customers)
    assert data.returns and all(by_id[r.order_id].status == "delivered" for r in data.returns)


def test_inserting_in_chunks_and_replacing_keeps_one_text_row_per_product(tmp_path: Path) -> None:
    import dataclasses

    from catalog.db import connect, create_schema, insert_products

    products = generate_products()[:40]
    conn = connect(tmp_path / "chunks.db")
    with conn:
        create_schema(conn)
        insert_products(conn, products[:20])
        insert_products(conn, products[20:])  # a second chunk adds, it does not replace
        renamed = dataclasses.replace(products[3], name="Renamed Thing")
        insert_products(conn, [renamed])
    assert conn.execute("SELECT COUNT(*) FROM product_fts").fetchone()[0] == 40
    rows = conn.execute("SELECT name FROM product_fts WHERE id = ?", (products[3].id,)).fetchall()
    assert [r[0] for r in rows] == ["Renamed Thing"]
    # Search joins text to products by rowid; the replaced product's new rowid must be mirrored.
    misaligned = conn.execute(
        "SELECT COUNT(*) FROM product_fts f JOIN products p ON p.rowid = f.rowid WHERE p.id != f.id"
    ).fetchone()[0]
    assert misaligned == 0


def test_a_database_from_before_rowid_alignment_is_realigned_and_searchable(tmp_path: Path) -> None:
    from catalog.db import connect, create_schema, insert_products
    from catalog.search.lexical import LexicalSearch
    from catalog.store import Store

    products = generate_products()[:30]
    conn = connect(tmp_path / "old.db")
    with conn:
        create_schema(conn)
        insert_products(conn, products)
        # What older versions wrote: text rows numbered on their own, in another order.
        conn.execute("DELETE FROM product_fts")
        for p in reversed(products):
            conn.execute(
                "INSERT INTO product_fts (id, name, brand, product_type, tags, description) VALUES (?,?,?,?,?,?)",
                (p.id, p.name, p.brand, p.product_type, "", p.description),
            )
        conn.execute("PRAGMA user_version = 0")
    conn.close()
    search = LexicalSearch(Store(tmp_path / "old.db"))
    target = products[0]
    hits = search.search(search.parse(target.name)).hits
    assert hits and hits[0].product.id == target.id
