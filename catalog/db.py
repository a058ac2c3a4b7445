"""SQLite schema and database building. One file holds the whole demo shop."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from catalog.models import Customer, Order, Product, ReturnRequest
from catalog.settings import CatalogSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id TEXT PRIMARY KEY, sku TEXT, name TEXT NOT NULL, brand TEXT, category TEXT,
    product_type TEXT, colors TEXT NOT NULL DEFAULT '[]', sizes TEXT NOT NULL DEFAULT '[]',
    material TEXT, price REAL NOT NULL, rating REAL, review_count INTEGER, stock INTEGER,
    release_date TEXT, description TEXT, tags TEXT NOT NULL DEFAULT '[]'
);
-- Filters compare case-insensitively, so the indexes must use NOCASE to be usable at all.
CREATE INDEX IF NOT EXISTS products_category_nocase ON products(category COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS products_type_nocase ON products(product_type COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS products_brand_nocase ON products(brand COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS products_price ON products(price);
-- Full-text index. A row's rowid is its product's rowid (see align_text_index), the cheap way back.
CREATE VIRTUAL TABLE IF NOT EXISTS product_fts USING fts5(
    id UNINDEXED, name, brand, product_type, tags, description, tokenize='porter unicode61'
);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT, email TEXT UNIQUE COLLATE NOCASE, address TEXT,
    newsletter INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT REFERENCES customers(id), status TEXT NOT NULL,
    created_at TEXT, shipping_address TEXT, shipping_option TEXT, carrier TEXT,
    tracking_number TEXT, eta TEXT, delivered_at TEXT, cancelled_at TEXT
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id TEXT REFERENCES orders(id), product_id TEXT, name TEXT, quantity INTEGER,
    unit_price REAL
);
CREATE TABLE IF NOT EXISTS returns (
    id TEXT PRIMARY KEY, order_id TEXT REFERENCES orders(id), reason TEXT, status TEXT,
    refund_amount REAL, created_at TEXT, refunded_at TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, text TEXT NOT NULL,
    customer_id TEXT, session_id TEXT, created_at TEXT
);
CREATE TABLE IF NOT EXISTS newsletter (
    email TEXT PRIMARY KEY COLLATE NOCASE, subscribed_at TEXT
);
-- Failed attempts to prove an order is yours, per conversation and per order (issue 19): counted in
-- a time window, kept across restarts, never reset by the dialogue.
CREATE TABLE IF NOT EXISTS verification_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL, order_id TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verification_failures_by_order ON verification_failures(order_id, at);
CREATE INDEX IF NOT EXISTS verification_failures_by_conversation ON verification_failures(conversation, at);
-- One-time codes mailed to prove an e-mail address is yours: only a salted hash is kept.
CREATE TABLE IF NOT EXISTS verification_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE,
    order_id TEXT, salt BLOB NOT NULL, code_hash BLOB NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, used_at TEXT
);
CREATE INDEX IF NOT EXISTS verification_codes_by_conversation ON verification_codes(conversation, id);
CREATE INDEX IF NOT EXISTS verification_codes_by_email ON verification_codes(email, created_at);
-- What a conversation has proven, on the server: 'owner' of an e-mail address (a code), or 'status'
-- of one order (its number and e-mail). Actions read this, never a slot.
CREATE TABLE IF NOT EXISTS conversation_access (
    conversation TEXT NOT NULL, level TEXT NOT NULL, email TEXT COLLATE NOCASE, order_id TEXT,
    granted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_access_by_conversation ON conversation_access(conversation, granted_at);
-- Mail kept on this machine when no SMTP server is configured (catalog/mail.py).
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, to_address TEXT NOT NULL, subject TEXT NOT NULL,
    body TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT, customer_id TEXT, reason TEXT,
    summary TEXT NOT NULL, created_at TEXT
);
"""


def db_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The database file: explicit path, else the catalogue settings ($SHOPKEEPER_DB, else catalog/shop.db)."""
    return Path(path) if path else CatalogSettings.from_env().db


def connect(path: str | os.PathLike[str] | None = None) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path(path), timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


# PRAGMA user_version from which product_fts rowids equal products rowids.
ALIGNED_TEXT_INDEX = 2


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    align_text_index(conn)


def align_text_index(conn: sqlite3.Connection) -> None:
    """Give every full-text row its product's rowid (a one-off for databases built before that).

    Search joins the two tables on rowid: an integer lookup instead of a text-key search per
    match, which is most of what BM25 over thousands of matches costs.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] >= ALIGNED_TEXT_INDEX:
        return
    conn.execute("DELETE FROM product_fts")
    conn.execute(
        "INSERT INTO product_fts (rowid, id, name, brand, product_type, tags, description) "
        "SELECT p.rowid, p.id, p.name, p.brand, p.product_type, "
        "(SELECT group_concat(value, ' ') FROM json_each(p.tags)), p.description FROM products p"
    )
    conn.execute(f"PRAGMA user_version = {ALIGNED_TEXT_INDEX}")


def insert_products(conn: sqlite3.Connection, products: list[Product], progress: bool = False) -> None:
    rows = tqdm(products, desc="products", unit="item", disable=not progress)
    for p in rows:
        # A replaced product gets a new rowid: its old text goes by the old one (see align_text_index).
        old = conn.execute("SELECT rowid FROM products WHERE id = ?", (p.id,)).fetchone()
        cursor = conn.execute(
            "INSERT OR REPLACE INTO products VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                p.id,
                p.sku,
                p.name,
                p.brand,
                p.category,
                p.product_type,
                json.dumps(p.colors),
                json.dumps(p.sizes),
                p.material,
                p.price,
                p.rating,
                p.review_count,
                p.stock,
                p.release_date,
                p.description,
                json.dumps(p.tags),
            ),
        )
        if old is not None:
            conn.execute("DELETE FROM product_fts WHERE rowid = ?", (old[0],))
        conn.execute(
            "INSERT INTO product_fts (rowid, id, name, brand, product_type, tags, description) VALUES (?,?,?,?,?,?,?)",
            (cursor.lastrowid, p.id, p.name, p.brand, p.product_type, " ".join(p.tags), p.description),
        )


def insert_customers(conn: sqlite3.Connection, customers: list[Customer]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO customers VALUES (?,?,?,?,?)",
        [(c.id, c.name, c.email, c.address, int(c.newsletter)) for c in customers],
    )


def insert_order(conn: sqlite3.Connection, order: Order) -> None:
    conn.execute(
        "INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            order.id,
            order.customer_id,
            order.status,
            order.created_at,
            order.shipping_address,
            order.shipping_option,
            order.carrier,
            order.tracking_number,
            order.eta,
            order.delivered_at,
            order.cancelled_at,
        ),
    )
    conn.executemany(
        "INSERT INTO order_lines VALUES (?,?,?,?,?)",
        [(order.id, line.product_id, line.name, line.quantity, line.unit_price) for line in order.lines],
    )


def insert_return(conn: sqlite3.Connection, ret: ReturnRequest) -> None:
    conn.execute(
        "INSERT INTO returns VALUES (?,?,?,?,?,?,?)",
        (ret.id, ret.order_id, ret.reason, ret.status, ret.refund_amount, ret.created_at, ret.refunded_at),
    )


def create_product_database(
    path: str | os.PathLike[str], batches: Iterable[list[Product]], progress: bool = False
) -> Path:
    """A new shop database holding only products, written batch by batch (the scale benchmark
    writes a million products this way without holding them all)."""
    conn = connect(path)
    try:
        with conn:
            create_schema(conn)
            for batch in batches:
                insert_products(conn, batch, progress=progress)
    finally:
        conn.close()
    return Path(path)


def build_demo_database(
    path: str | os.PathLike[str] | None = None, as_of: dt.date | None = None, progress: bool = True
) -> Path:
    """(Re)create the demo shop: products, customers, orders, returns. Returns the file path."""
    from catalog.demo.orders import generate_store_data
    from catalog.demo.products import generate_products

    target = db_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    products = generate_products()
    data = generate_store_data(products, as_of=as_of)
    # Build into a temporary file and rename, so a crash never leaves half a shop behind.
    conn = connect(tmp)
    try:
        with conn:
            create_schema(conn)
            insert_products(conn, products, progress=progress)
            insert_customers(conn, data.customers)
            for order in tqdm(data.orders, desc="orders", unit="order", disable=not progress):
                insert_order(conn, order)
            for ret in data.returns:
                insert_return(conn, ret)
    finally:
        conn.close()
    os.replace(tmp, target)
    return target
