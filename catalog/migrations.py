"""Schema migrations for the shop's records, on SQLite and PostgreSQL.

Each step is a numbered function that takes the database one version further, inside one
transaction; ``shop_schema`` remembers the version reached. Steps are history: they define the
tables as they were *then* (never ``catalog.records``' current tables), so an old database and a new
one end in the same place. ``tests/unit/test_migrations.py`` checks that migrating an empty database
gives exactly ``catalog.records.metadata``, and that a database in the previous schema keeps its rows.

A deployer runs ``python -m catalog migrate``; the launcher and the action server run it on start
(it does nothing when the database is current).

Version 1 is the schema the shop database had before migrations existed (created by raw SQLite DDL
beside the products). A database that has its tables but no ``shop_schema`` is taken to be there.
"""

from __future__ import annotations

from collections.abc import Callable

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
    func,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

from catalog.records import Records


def _version_1(conn: Connection) -> None:
    """The records as the shop database held them before migrations (catalog/db.py's old SCHEMA)."""
    m = MetaData()
    Table(
        "customers",
        m,
        Column("id", String, primary_key=True),
        Column("name", Text),
        Column("email", Text),
        Column("address", Text),
        Column("newsletter", Integer, nullable=False, server_default="0"),
    )
    Table(
        "orders",
        m,
        Column("id", String, primary_key=True),
        Column("customer_id", String, ForeignKey("customers.id")),
        Column("status", Text, nullable=False),
        *(
            Column(name, Text)
            for name in (
                "created_at",
                "shipping_address",
                "shipping_option",
                "carrier",
                "tracking_number",
                "eta",
                "delivered_at",
                "cancelled_at",
            )
        ),
    )
    Table(
        "order_lines",
        m,
        Column("order_id", String, ForeignKey("orders.id")),
        Column("product_id", Text),
        Column("name", Text),
        Column("quantity", Integer),
        Column("unit_price", Float),
    )
    Table(
        "returns",
        m,
        Column("id", String, primary_key=True),
        Column("order_id", String, ForeignKey("orders.id")),
        Column("reason", Text),
        Column("status", Text),
        Column("refund_amount", Float),
        Column("created_at", Text),
        Column("refunded_at", Text),
    )
    Table(
        "feedback",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("kind", Text, nullable=False),
        Column("text", Text, nullable=False),
        Column("customer_id", Text),
        Column("session_id", Text),
        Column("created_at", Text),
    )
    Table("newsletter", m, Column("email", String, primary_key=True), Column("subscribed_at", Text))
    failures = Table(
        "verification_failures",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation", Text, nullable=False),
        Column("order_id", Text, nullable=False),
        Column("at", Text, nullable=False),
    )
    Index("verification_failures_by_order", failures.c.order_id, failures.c.at)
    Index("verification_failures_by_conversation", failures.c.conversation, failures.c.at)
    codes = Table(
        "verification_codes",
        m,
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
    Index("verification_codes_by_conversation", codes.c.conversation, codes.c.id)
    Index("verification_codes_by_email", codes.c.email, codes.c.created_at)
    access = Table(
        "conversation_access",
        m,
        Column("conversation", Text, nullable=False),
        Column("level", Text, nullable=False),
        Column("email", Text),
        Column("order_id", Text),
        Column("granted_at", Text, nullable=False),
    )
    Index("conversation_access_by_conversation", access.c.conversation, access.c.granted_at)
    Table(
        "outbox",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("to_address", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", Text, nullable=False),
    )
    Table(
        "handoffs",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", Text),
        Column("customer_id", Text),
        Column("reason", Text),
        Column("summary", Text, nullable=False),
        Column("created_at", Text),
    )
    m.create_all(conn)  # fmt: skip


def _version_2(conn: Connection) -> None:
    """Records that several nodes can share.

    - ``stock``: the quantity left of each product, taken by orders in their own transaction
      (it was a column of the node-local product index). Filled from the products table when
      that table is in the same database.
    - ``conversation_access`` gets an id, which orders proofs of one second (it used SQLite's rowid).
    - one account per e-mail address whatever its case (it was SQLite's NOCASE collation).
    """
    m = MetaData()
    stock = Table("stock", m, Column("product_id", String, primary_key=True),
                  Column("quantity", Integer, nullable=False))  # fmt: skip
    stock.create(conn)
    if inspect(conn).has_table("products"):
        conn.execute(text("INSERT INTO stock (product_id, quantity) SELECT id, COALESCE(stock, 0) FROM products"))

    conn.execute(text("DROP INDEX IF EXISTS conversation_access_by_conversation"))
    conn.execute(text("ALTER TABLE conversation_access RENAME TO conversation_access_v1"))
    access = Table(
        "conversation_access",
        m,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("conversation", Text, nullable=False),
        Column("level", Text, nullable=False),
        Column("email", Text),
        Column("order_id", Text),
        Column("granted_at", Text, nullable=False),
    )
    Index("conversation_access_by_conversation", access.c.conversation, access.c.granted_at)
    access.create(conn)
    order = "rowid" if conn.dialect.name == "sqlite" else "granted_at"
    columns = "conversation, level, email, order_id, granted_at"
    conn.execute(
        text(
            f"INSERT INTO conversation_access ({columns}) SELECT {columns} FROM conversation_access_v1 ORDER BY {order}"
        )
    )
    conn.execute(text("DROP TABLE conversation_access_v1"))

    customers = Table("customers", MetaData(), autoload_with=conn)
    Index("customers_email_lower", func.lower(customers.c.email), unique=True).create(conn)


def _version_3(conn: Connection) -> None:
    """The agent inbox: a handoff is waiting, taken by an agent, or closed; and which agents are online.

    Tickets from before stay waiting (nobody ever read them)."""
    for column in ("agent", "taken_at", "closed_at"):
        conn.execute(text(f"ALTER TABLE handoffs ADD COLUMN {column} TEXT"))
    conn.execute(text("ALTER TABLE handoffs ADD COLUMN status TEXT NOT NULL DEFAULT 'waiting'"))
    m = MetaData()
    Table("agents_online", m, Column("agent", String, primary_key=True), Column("seen_at", Text, nullable=False))
    m.create_all(conn)


STEPS: list[Callable[[Connection], None]] = [_version_1, _version_2, _version_3]
LATEST = len(STEPS)


def current_version(conn: Connection) -> int:
    """The version a database is at: 0 when empty, 1 for the tables of before migrations."""
    tables = inspect(conn)
    if tables.has_table("shop_schema"):
        return int(conn.execute(text("SELECT version FROM shop_schema")).scalar_one())
    return 1 if tables.has_table("customers") else 0


def migrate(records: Records, target: int = LATEST, report: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Bring the records to ``target``, one transaction per step; returns (version before, after).

    Safe to run from several processes at once: each step re-reads the version inside its own
    transaction, and PostgreSQL serialises them on a lock.
    """
    with records.begin() as conn:
        before = current_version(conn)
    version = before
    while version < target:
        with records.begin() as conn:
            if records.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7263)"))  # one migrator at a time
            version = current_version(conn)
            if version >= target:
                break
            STEPS[version](conn)
            version += 1
            _set_version(conn, version)
        if report:
            report(f"shop records: schema version {version}")
    return before, version


def _set_version(conn: Connection, version: int) -> None:
    if inspect(conn).has_table("shop_schema"):
        conn.execute(text("UPDATE shop_schema SET version = :v"), {"v": version})
    else:
        conn.execute(text("CREATE TABLE shop_schema (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO shop_schema (version) VALUES (:v)"), {"v": version})
