"""The real PostgreSQL, Redis and RabbitMQ every developer's and CI's machine runs (see README, Tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
CLOSED_PORT = 9  # "discard": nothing listens there on these machines


def drop_database(url: str) -> None:
    """Drop a test database now, closing every connection to it (an outage that does not come back)."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (dropped afterwards); yields its URL."""
    import sqlalchemy as sa

    name = f"shopkeeper_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        drop_database(f"{POSTGRES}/{name}")


@contextmanager
def records_on_postgres(shop_db: Path, monkeypatch: Any) -> Iterator[str]:
    """The shop's records copied from its SQLite file into a fresh PostgreSQL database, which
    ``SHOPKEEPER_RECORDS_URL`` names (for the actions too) while the block runs; yields its URL."""
    from actions.common import reset_shop_connection
    from catalog import Records, migrate
    from catalog.records import copy_records, sqlite_url

    with fresh_postgres_database() as url:
        source, target = Records(sqlite_url(shop_db)), Records(url)
        migrate(target)
        copy_records(source, target)
        source.dispose()
        target.dispose()
        monkeypatch.setenv("SHOPKEEPER_RECORDS_URL", url)
        reset_shop_connection()
        try:
            yield url
        finally:
            reset_shop_connection()
            monkeypatch.delenv("SHOPKEEPER_RECORDS_URL")
