"""The product index (SQLite: products and their full text) and building the demo shop.

The shop's records (customers, orders...) are in ``catalog/records.py``; by default they share
this file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from catalog.migrations import migrate
from catalog.models import Product
from catalog.records import Records, customers, seed_records, sqlite_url
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
-- Catalogues imported into this file (python -m catalog import): a file with any is a real shop's,
-- which `build --force` (make run after the demo's sources change) must never replace.
CREATE TABLE IF NOT EXISTS imports (source TEXT NOT NULL, products INTEGER NOT NULL, at TEXT NOT NULL);
-- Full-text index. A row's rowid is its product's rowid (see align_text_index), the cheap way back.
CREATE VIRTUAL TABLE IF NOT EXISTS product_fts USING fts5(
    id UNINDEXED, name, brand, product_type, tags, description, tokenize='porter unicode61'
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
    finally:
        conn.close()
    configured = CatalogSettings.from_env().records_url
    records = Records(configured or sqlite_url(tmp))
    try:
        migrate(records)
        if not configured or records.count(customers) == 0:  # never over a live shop's records
            stock = {p.id: p.stock for p in products}
            seed_records(records, data.customers, data.orders, data.returns, stock, progress=progress)
    finally:
        records.dispose()
    os.replace(tmp, target)
    return target


def imported_catalogues(path: str | os.PathLike[str] | None = None) -> int:
    """How many catalogue imports the database file has had (0 for the demo shop or no file)."""
    target = db_path(path)
    if not target.exists():
        return 0
    conn = sqlite3.connect(target)
    try:
        known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'imports'").fetchone()
        return int(conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0]) if known else 0
    finally:
        conn.close()
