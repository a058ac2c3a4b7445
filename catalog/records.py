"""The shop's records: customers, orders, returns, stock, proofs of identity, mail, feedback, handoffs.

They are what every node of a shop must agree on, so they live behind one data-access layer
(SQLAlchemy Core) on either engine: by default in the shop's SQLite file, beside the product index,
or in PostgreSQL when ``SHOPKEEPER_RECORDS_URL`` names one (every action server of a multi-host shop
points at the same database). The product index (products, full text, vectors) stays a local,
read-mostly SQLite file per node; see DESIGN.md, "Where state lives".

The tables below are the current schema; ``catalog/migrations.py`` brings any database to it.
Queries compare e-mail addresses through ``lower()`` because PostgreSQL has no NOCASE collation.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import ColumnElement, Insert
from tqdm import tqdm

from catalog.models import Customer, Order, ReturnRequest
from catalog.settings import CatalogSettings

metadata = MetaData()
WRITE = "shopkeeper_write"  # execution option: this transaction will write (SQLite: BEGIN IMMEDIATE)

customers = Table(
    "customers",
    metadata,
    Column("id", String, primary_key=True),
    Column("name", Text),
    Column("email", Text),
    Column("address", Text),
    Column("newsletter", Integer, nullable=False, server_default="0"),
)
Index("customers_email_lower", func.lower(customers.c.email), unique=True)

orders = Table(
    "orders",
    metadata,
    Column("id", String, primary_key=True),
    Column("customer_id", String, ForeignKey("customers.id")),
    Column("status", Text, nullable=False),
    Column("created_at", Text),
    Column("shipping_address", Text),
    Column("shipping_option", Text),
    Column("carrier", Text),
    Column("tracking_number", Text),
    Column("eta", Text),
    Column("delivered_at", Text),
    Column("cancelled_at", Text),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String, ForeignKey("orders.id")),
    Column("product_id", Text),
    Column("name", Text),
    Column("quantity", Integer),
    Column("unit_price", Float),
)

returns = Table(
    "returns",
    metadata,
    Column("id", String, primary_key=True),
    Column("order_id", String, ForeignKey("orders.id")),
    Column("reason", Text),
    Column("status", Text),
    Column("refund_amount", Float),
    Column("created_at", Text),
    Column("refunded_at", Text),
)

# How many of each product can still be sold. Shared by every node; an order takes from it in the
# same transaction that writes the order, so two action servers can never sell the last one twice.
stock = Table(
    "stock",
    metadata,
    Column("product_id", String, primary_key=True),
    Column("quantity", Integer, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("customer_id", Text),
    Column("session_id", Text),
    Column("created_at", Text),
)

newsletter = Table(
    "newsletter",
    metadata,
    Column("email", String, primary_key=True),
    Column("subscribed_at", Text),
)

# Failed attempts to prove an order is yours (issue 19): counted in a time window, never reset.
verification_failures = Table(
    "verification_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("at", Text, nullable=False),
)
Index("verification_failures_by_order", verification_failures.c.order_id, verification_failures.c.at)
Index("verification_failures_by_conversation", verification_failures.c.conversation, verification_failures.c.at)

# One-time codes mailed to prove an e-mail address is yours: only a salted hash is kept.
verification_codes = Table(
    "verification_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("order_id", Text),
    Column("salt", LargeBinary, nullable=False),
    Column("code_hash", LargeBinary, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("used_at", Text),
)
Index("verification_codes_by_conversation", verification_codes.c.conversation, verification_codes.c.id)
Index("verification_codes_by_email", verification_codes.c.email, verification_codes.c.created_at)

# What a conversation has proven: 'owner' of an e-mail address (a code) or 'status' of one order.
conversation_access = Table(
    "conversation_access",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("email", Text),
    Column("order_id", Text),
    Column("granted_at", Text, nullable=False),
)
Index("conversation_access_by_conversation", conversation_access.c.conversation, conversation_access.c.granted_at)

# Mail kept on this machine when no SMTP server is configured (catalog/mail.py).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("to_address", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Text),
    Column("customer_id", Text),
    Column("reason", Text),
    Column("summary", Text, nullable=False),
    Column("created_at", Text),
    # waiting -> taken (an agent holds the conversation) -> closed (handed back to the bot)
    Column("status", Text, nullable=False, server_default="waiting"),
    Column("agent", Text),
    Column("taken_at", Text),
    Column("closed_at", Text),
)

# Agents whose inbox page asked for news lately: the bot tells a shopper whether anyone is there.
agents_online = Table(
    "agents_online",
    metadata,
    Column("agent", String, primary_key=True),
    Column("seen_at", Text, nullable=False),
)


def sqlite_url(path: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def records_url(shop_db: str | os.PathLike[str], settings: CatalogSettings | None = None) -> str:
    """Where the records live: ``SHOPKEEPER_RECORDS_URL``, else the shop's own SQLite file."""
    settings = settings or CatalogSettings.from_env()
    return settings.records_url or sqlite_url(shop_db)


def engine_for(url: str) -> Engine:
    """An engine for ``sqlite:///FILE`` or ``postgresql://...``; SQLite waits up to 10 s for a writer."""
    if not url.startswith("sqlite"):
        url = url.replace("postgres://", "postgresql://", 1)
        return create_engine(url, future=True, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    engine = create_engine(url, future=True, connect_args={"timeout": 10, "check_same_thread": False})

    # Python's sqlite3 starts transactions only before DML and lets DDL commit on its own; SQLAlchemy's
    # recipe hands transactions to SQLite, so a migration step is one transaction. A write takes the
    # write lock at BEGIN (IMMEDIATE), so two writers queue instead of failing on a lock upgrade.
    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

    return engine


def same_email(column: Any, email: str) -> ColumnElement[bool]:
    """``column`` holds ``email``, whatever the case of either."""
    return func.lower(column) == email.strip().lower()


class Records:
    """An engine over the records and the few statements that differ between SQLite and PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading."""
        with self.engine.connect() as conn:
            yield conn

    def insert_ignoring_duplicates(self, table: Table, values: Mapping[str, Any] | list[dict[str, Any]]) -> Insert:
        """INSERT that skips rows whose key exists (SQLite's OR IGNORE, PostgreSQL's ON CONFLICT)."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(table).values(values).on_conflict_do_nothing()

    def upsert(self, table: Table, rows: list[dict[str, Any]], key: str) -> Insert:
        """INSERT rows, replacing the other columns of rows whose ``key`` exists."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        statement = dialect.insert(table).values(rows)
        changed = {c.name: statement.excluded[c.name] for c in table.columns if c.name != key}
        return statement.on_conflict_do_update(index_elements=[key], set_=changed)

    def set_stock(self, levels: Mapping[str, int]) -> None:
        """The quantity of each product the shop can sell (a catalogue import says so), in one go."""
        rows = [{"product_id": pid, "quantity": int(q or 0)} for pid, q in levels.items()]
        with self.begin() as conn:
            for start in range(0, len(rows), 500):  # keeps each statement under the engines' parameter limits
                conn.execute(self.upsert(stock, rows[start : start + 500], key="product_id"))

    def count(self, table: Table) -> int:
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def dispose(self) -> None:
        self.engine.dispose()


# -- writing whole records (the demo shop, and the store's own inserts) -----------------------------
def customer_row(customer: Customer) -> dict[str, Any]:
    return {**customer.to_dict(), "newsletter": int(customer.newsletter)}


def insert_order(conn: Connection, order: Order) -> None:
    conn.execute(
        orders.insert().values(
            id=order.id,
            customer_id=order.customer_id,
            status=order.status,
            created_at=order.created_at,
            shipping_address=order.shipping_address,
            shipping_option=order.shipping_option,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            eta=order.eta,
            delivered_at=order.delivered_at,
            cancelled_at=order.cancelled_at,
        )
    )
    if order.lines:
        conn.execute(
            order_lines.insert(),
            [
                {"order_id": order.id, "product_id": x.product_id, "name": x.name, "quantity": x.quantity,
                 "unit_price": x.unit_price}
                for x in order.lines
            ],
        )  # fmt: skip


def return_row(ret: ReturnRequest) -> dict[str, Any]:
    return {name: getattr(ret, name) for name in ReturnRequest.__dataclass_fields__}


def seed_records(
    records: Records,
    new_customers: list[Customer],
    new_orders: list[Order],
    new_returns: list[ReturnRequest],
    stock_levels: Mapping[str, int] | None = None,
    progress: bool = False,
) -> None:
    """Write a shop's customers, orders and returns (the demo's) in one transaction."""
    with records.begin() as conn:
        if new_customers:
            conn.execute(customers.insert(), [customer_row(c) for c in new_customers])
        for order in tqdm(new_orders, desc="orders", unit="order", disable=not progress):
            insert_order(conn, order)
        if new_returns:
            conn.execute(returns.insert(), [return_row(r) for r in new_returns])
    if stock_levels:
        records.set_stock(stock_levels)


def copy_records(source: Records, target: Records, progress: bool = False) -> int:
    """Copy every record from ``source`` into ``target`` (migrated, holding no records); rows copied.

    How a shop moves from its SQLite file to PostgreSQL (``python -m catalog copy-records --to URL``).
    """
    with target.read() as conn:
        if any(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables):
            raise ValueError(f"{target.url.split('@')[-1]} already holds records; copy only into an empty database")
    copied = 0
    with source.read() as reader, target.begin() as writer:
        for table in tqdm(metadata.sorted_tables, desc="tables", unit="table", disable=not progress):
            rows = [dict(r) for r in reader.execute(select(table)).mappings()]
            for start in range(0, len(rows), 500):
                writer.execute(table.insert(), rows[start : start + 500])
            copied += len(rows)
            if target.dialect == "postgresql" and "id" in table.c and isinstance(table.c.id.type, Integer):
                # Rows came with their ids: the next new row must get the id after them.
                sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
                writer.execute(text(f"SELECT setval({sequence}, COALESCE(MAX(id), 0) + 1, false) FROM {table.name}"))
    return copied
