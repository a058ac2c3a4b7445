"""The real PostgreSQL, Redis and RabbitMQ every developer's and CI's machine runs (see README, Tests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

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
