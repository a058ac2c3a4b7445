"""The shop's records on SQLite and PostgreSQL: migrations from an empty database and from the previous
schema, orders racing for the last items, and moving a shop's records to PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from catalog import Records, Store, StoreError, migrate, records
from catalog.cli import main as catalog_cli
from catalog.db import connect, create_schema, insert_products
from catalog.migrations import LATEST, current_version
from catalog.records import sqlite_url
from tests.backing_services import fresh_postgres_database

# The records as shop.db files held them before migrations existed (catalog/db.py's raw SQLite DDL,
# written by every release until the data-access layer): what a shop upgrading from it has on disk.
PREVIOUS_SCHEMA = """
CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE COLLATE NOCASE, address TEXT,
    newsletter INTEGER NOT NULL DEFAULT 0);
CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id TEXT REFERENCES customers(id), status TEXT NOT NULL,
    created_at TEXT, shipping_address TEXT, shipping_option TEXT, carrier TEXT, tracking_number TEXT, eta TEXT,
    delivered_at TEXT, cancelled_at TEXT);
CREATE TABLE order_lines (order_id TEXT REFERENCES orders(id), product_id TEXT, name TEXT, quantity INTEGER,
    unit_price REAL);
CREATE TABLE returns (id TEXT PRIMARY KEY, order_id TEXT REFERENCES orders(id), reason TEXT, status TEXT,
    refund_amount REAL, created_at TEXT, refunded_at TEXT);
CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, text TEXT NOT NULL,
    customer_id TEXT, session_id TEXT, created_at TEXT);
CREATE TABLE newsletter (email TEXT PRIMARY KEY COLLATE NOCASE, subscribed_at TEXT);
CREATE TABLE verification_failures (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL,
    order_id TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX verification_failures_by_order ON verification_failures(order_id, at);
CREATE INDEX verification_failures_by_conversation ON verification_failures(conversation, at);
CREATE TABLE verification_codes (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL,
    email TEXT NOT NULL COLLATE NOCASE, order_id TEXT, salt BLOB NOT NULL, code_hash BLOB NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, used_at TEXT);
CREATE INDEX verification_codes_by_conversation ON verification_codes(conversation, id);
CREATE INDEX verification_codes_by_email ON verification_codes(email, created_at);
CREATE TABLE conversation_access (conversation TEXT NOT NULL, level TEXT NOT NULL, email TEXT COLLATE NOCASE,
    order_id TEXT, granted_at TEXT NOT NULL);
CREATE INDEX conversation_access_by_conversation ON conversation_access(conversation, granted_at);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, to_address TEXT NOT NULL, subject TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE handoffs (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, customer_id TEXT, reason TEXT,
    summary TEXT NOT NULL, created_at TEXT);
"""

# One of everything, as rows of the previous schema (written through the first migration step on PostgreSQL).
SOON = "2099-01-01T00:00:00"
ROWS: dict[str, list[dict[str, object]]] = {
    "customers": [{"id": "C0001", "name": "Ada", "email": "Ada@Example.com", "address": "1 Long Road, Town"}],
    "orders": [{"id": "10001", "customer_id": "C0001", "status": "delivered", "created_at": "2026-11-01",
                "shipping_address": "1 Long Road, Town", "shipping_option": "standard", "delivered_at": "2026-11-03"}],
    "order_lines": [{"order_id": "10001", "product_id": "P1", "name": "Kettle", "quantity": 2, "unit_price": 20.0}],
    "returns": [{"id": "R0001", "order_id": "10001", "reason": "leaks", "status": "requested", "refund_amount": 40.0,
                 "created_at": "2026-11-05"}],
    "feedback": [{"kind": "complaint", "text": "late", "created_at": "2026-11-05T10:00:00"}],
    "newsletter": [{"email": "ada@example.com", "subscribed_at": "2026-11-01"}],
    "verification_failures": [{"conversation": "c9", "order_id": "10001", "at": SOON}],
    "verification_codes": [{"conversation": "c1", "email": "ada@example.com", "salt": b"\x00\x01salt",
                            "code_hash": b"\xff\x00hash", "created_at": "2026-11-05T10:00:00", "expires_at": SOON}],
    # Two proofs in one second: the later one (by row order) must still win after the migration.
    "conversation_access": [
        {"conversation": "c1", "level": "owner", "email": "old@example.com", "granted_at": SOON},
        {"conversation": "c1", "level": "owner", "email": "ada@example.com", "granted_at": SOON},
    ],
    "outbox": [{"to_address": "ada@example.com", "subject": "Your code", "body": "123456", "created_at": SOON}],
    "handoffs": [{"session_id": "c1", "summary": "{}", "created_at": "2026-11-05T10:00:00"}],
}  # fmt: skip


def kettle() -> object:
    from catalog.models import Product

    return Product("P1", "K-1", "Kettle", "Brewco", "Kitchen", "kettle", ["red"], [], "steel", 20.0, 4.5, 10, 3,
                   "2026-01-01", "A kettle.")  # fmt: skip


def product_index(path: Path) -> Path:
    """A shop file holding one product (3 in stock) and nothing else."""
    conn = connect(path)
    with conn:
        create_schema(conn)
        insert_products(conn, [kettle()])  # type: ignore[list-item]
    conn.close()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "records.db")
    else:
        with fresh_postgres_database() as url:
            yield url


def test_an_empty_database_is_migrated_to_exactly_the_current_schema(empty_url: str) -> None:
    shop = Records(empty_url)
    assert migrate(shop) == (0, LATEST)
    assert migrate(shop) == (LATEST, LATEST), "a current database is left alone"
    found = inspect(shop.engine)
    assert set(found.get_table_names()) == set(records.metadata.tables) | {"shop_schema"}
    for name, table in records.metadata.tables.items():
        assert {c["name"] for c in found.get_columns(name)} == {c.name for c in table.columns}, name
        assert found.get_pk_constraint(name)["constrained_columns"] == [c.name for c in table.primary_key], name
    with shop.begin() as conn:
        conn.execute(insert(records.customers).values(id="C1", email="Ada@Example.com"))
    with pytest.raises(IntegrityError), shop.begin() as conn:
        conn.execute(insert(records.customers).values(id="C2", email="ada@example.COM"))
    shop.dispose()


def test_a_shop_file_in_the_previous_schema_keeps_every_record(tmp_path: Path) -> None:
    path = product_index(tmp_path / "shop.db")
    with sqlite3.connect(path) as conn:
        conn.executescript(PREVIOUS_SCHEMA)
        for table, rows in ROWS.items():
            for row in rows:
                conn.execute(f"INSERT INTO {table} ({','.join(row)}) VALUES ({','.join('?' * len(row))})",
                             list(row.values()))  # fmt: skip
    store = Store(path)  # migrates on first use of the records
    check_records_after_migration(store)
    assert store.product("P1").stock == 3  # type: ignore[union-attr]
    with store.records.read() as conn:
        assert conn.execute(select(records.stock.c.quantity)).scalar_one() == 3, "stock filled from the products"
    store.close()


def test_records_in_the_first_schema_on_postgresql_keep_every_record(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        shop = Records(url)
        assert migrate(shop, target=1) == (0, 1)
        with shop.begin() as conn:
            old = inspect(conn)
            for table, rows in ROWS.items():
                columns = {c["name"] for c in old.get_columns(table)}
                assert all(set(row) <= columns for row in rows), table
                conn.execute(records.metadata.tables[table].insert(), rows)
        shop.dispose()
        store = Store(product_index(tmp_path / "shop.db"), records_url=url)
        check_records_after_migration(store)
        store.close()


def check_records_after_migration(store: Store) -> None:
    with store.records.read() as conn:
        assert current_version(conn) == LATEST
        for table, rows in ROWS.items():
            kept = conn.execute(select(records.metadata.tables[table])).mappings().all()
            assert len(kept) == len(rows), table
            for row, after in zip(rows, kept, strict=True):
                assert {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in after.items() if k in row} == row
    assert store.customer_by_email("ADA@example.com").id == "C0001"  # type: ignore[union-attr]
    assert store.order("10001").total == 40.0  # type: ignore[union-attr]
    assert store.identity.owned_email("c1") == "ada@example.com", "the later proof of the same second wins"
    assert store.identity.pending_code("c1") is not None
    assert [r.id for r in store.returns_for_order("10001")] == ["R0001"]
    # New rows get new ids after the old ones, and new numbers.
    assert store.add_feedback("praise", "quick") == 2
    assert store.create_customer("Bo", "bo@example.com", "2 Short Lane, Town").id == "C0002"
    assert not store.subscribe("ADA@EXAMPLE.COM"), "already subscribed, whatever the case"


def race_for_the_last_kettles(path: Path, url: str, shoppers: int = 8) -> list[str]:
    """``shoppers`` processes' worth of stores, each placing an order for one kettle at the same moment."""
    setup = Store(path, records_url=url)
    customer = setup.create_customer("Ada", "ada@example.com", "1 Long Road, Town").id
    setup.set_stock({"P1": 3})
    setup.close()
    start, outcomes = threading.Barrier(shoppers), []

    def shop() -> None:
        store = Store(path, records_url=url)  # an engine of its own, as another action server has
        start.wait()
        try:
            outcomes.append(store.create_order(customer, [("P1", 1)]).id)
        except StoreError as exc:
            outcomes.append(str(exc))
        finally:
            store.close()

    threads = [threading.Thread(target=shop) for _ in range(shoppers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_orders_racing_for_the_last_items_never_oversell(empty_url: str, tmp_path: Path) -> None:
    path = product_index(tmp_path / "shop.db")
    outcomes = race_for_the_last_kettles(path, empty_url)
    placed = sorted(o for o in outcomes if o.isdigit())
    assert placed == ["10001", "10002", "10003"], outcomes
    assert outcomes.count("Only 0 of the Kettle left in stock.") == 5, outcomes
    store = Store(path, records_url=empty_url)
    assert store.product("P1").stock == 0, "this node's index follows the shared stock"  # type: ignore[union-attr]
    store.cancel_order("10002")
    with pytest.raises(StoreError, match="already cancelled"):
        store.cancel_order("10002")
    with store.records.read() as conn:
        assert conn.execute(select(records.stock.c.quantity)).scalar_one() == 1, "a cancellation returns its goods once"
    store.close()


def test_a_shop_moves_its_records_to_postgresql(shop_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = Store(shop_db)
    order, customers = before.order("10002"), before.records.count(records.customers)
    feedback = len(before.feedback())
    before.close()
    with fresh_postgres_database() as url:
        assert catalog_cli(["--db", str(shop_db), "copy-records", "--to", url]) == 0
        moved = Store(shop_db, records_url=url)
        assert moved.order("10002") == order and moved.records.count(records.customers) == customers
        assert moved.add_feedback("praise", "after the move") > feedback, "ids go on after the copy"
        moved.close()
        assert catalog_cli(["--db", str(shop_db), "copy-records", "--to", url]) == 2
        assert "already holds records" in capsys.readouterr().err
