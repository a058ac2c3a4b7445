"""Where Rasa keeps conversations, locks and events: one URL per engine, turned into endpoints.yml.

    SHOPKEEPER_TRACKER_URL   sqlite:///path/trackers.db (default, beside the shop database),
                             postgresql://user:password@host:5432/db or redis://host:6379/0
    SHOPKEEPER_LOCK_URL      redis://host:6379/1 (empty: Rasa's in-memory lock store, one Rasa only)
    SHOPKEEPER_EVENT_BROKER_URL  amqp://user:password@host:5672 (empty: no broker)

Rasa's own stores retry an unreachable database forever and then fall back to memory, which would
silently forget conversations; ``check_reachable`` tries each engine once, with a short timeout, so
a wrong setting stops the launch with a message that names it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from catalog import Records, migrate

EVENT_QUEUE = "shopkeeper_events"  # the queue the broker fills and bot.analytics reads
KEY_PREFIX = "shopkeeper"
LOCK_STORE_CLASS = "bot.rasa_lock_store.AtomicRedisLockStore"
# Rasa's own stores, in a module that also stops Rasa answering a turn on a blank tracker when the
# store fails (bot/rasa_tracker_store.py).
SQL_STORE_CLASS = "bot.rasa_tracker_store.SQLStore"
REDIS_STORE_CLASS = "bot.rasa_tracker_store.RedisStore"
CONNECT_TIMEOUT_S = 5


class BackendError(RuntimeError):
    """A backend setting is malformed or its engine cannot be reached; the message names the setting."""


@dataclass(frozen=True)
class Backend:
    """One engine named by URL: its setting's name, its scheme and the parts Rasa's config wants."""

    setting: str
    url: str

    @property
    def parts(self) -> Any:
        return urlsplit(self.url)

    @property
    def scheme(self) -> str:
        return self.parts.scheme.split("+")[0].lower()

    @property
    def shown(self) -> str:
        """The URL without its password, for messages and logs."""
        p = self.parts
        if not p.password:
            return self.url
        user = f"{p.username}:***@" if p.username else ":***@"
        return self.url.replace(p.netloc, user + p.netloc.rsplit("@", 1)[1], 1)

    def fail(self, why: str) -> BackendError:
        return BackendError(f"{self.setting}={self.shown}: {why}")

    def path_part(self) -> str:
        return unquote(self.parts.path.lstrip("/"))

    def port(self, default: int) -> int:
        try:
            return self.parts.port or default
        except ValueError as exc:  # "host:abc"
            raise self.fail("the port is not a number") from exc

    def redis_db(self) -> int:
        db = self.path_part() or "0"
        if not db.isdigit():
            raise self.fail(f"a Redis database is a number, not {db!r}")
        return int(db)


def default_tracker_url(shop_db: str | Path) -> str:
    """The default: a SQLite file next to the shop database (git-ignored like it)."""
    return f"sqlite:///{Path(shop_db).resolve().parent / 'trackers.db'}"


def tracker_store(url: str, retention_s: float | None = None) -> dict[str, Any]:
    """endpoints.yml's ``tracker_store`` for SHOPKEEPER_TRACKER_URL."""
    b = Backend("SHOPKEEPER_TRACKER_URL", url)
    if b.scheme == "sqlite":
        path = unquote(b.parts.path[1:])  # sqlite:///relative.db or sqlite:////absolute.db, as SQLAlchemy
        if b.parts.netloc or not path or path.endswith("/"):
            raise b.fail("name a file: sqlite:///var/trackers.db (relative) or sqlite:////abs/trackers.db")
        return {"type": SQL_STORE_CLASS, "dialect": "sqlite", "db": str(Path(path).resolve())}
    if b.scheme in ("postgresql", "postgres"):
        p = b.parts
        if not p.hostname or not b.path_part():
            raise b.fail("write postgresql://user:password@host:5432/database")
        return {
            "type": SQL_STORE_CLASS,
            "dialect": "postgresql",
            "url": p.hostname,
            "port": b.port(5432),
            "db": b.path_part(),
            "username": unquote(p.username) if p.username else None,
            "password": unquote(p.password) if p.password else None,
        }
    if b.scheme == "redis":
        config = _redis(b)
        config["type"] = REDIS_STORE_CLASS
        if retention_s:
            config["record_exp"] = retention_s  # Redis forgets an idle conversation by itself
        return config
    raise b.fail("use sqlite:///file, postgresql://... or redis://...")


def lock_store(url: str) -> dict[str, Any] | None:
    """endpoints.yml's ``lock_store`` for SHOPKEEPER_LOCK_URL (None: Rasa's in-memory locks)."""
    if not url:
        return None
    b = Backend("SHOPKEEPER_LOCK_URL", url)
    if b.scheme != "redis":
        raise b.fail("the lock store is Redis: redis://host:6379/1")
    # Rasa's own "redis" type updates its tickets non-atomically; ours is a drop-in with transactions.
    return {**_redis(b), "type": LOCK_STORE_CLASS}


def event_broker(url: str) -> dict[str, Any] | None:
    """endpoints.yml's ``event_broker`` for SHOPKEEPER_EVENT_BROKER_URL (None: no broker)."""
    if not url:
        return None
    b = Backend("SHOPKEEPER_EVENT_BROKER_URL", url)
    if b.scheme != "amqp" or not b.parts.hostname:
        raise b.fail("the event broker is RabbitMQ: amqp://user:password@host:5672")
    p = b.parts
    return {
        "type": "pika",
        "url": p.hostname,
        "port": b.port(5672),
        "username": unquote(p.username or "guest"),
        "password": unquote(p.password or "guest"),
        "queues": [EVENT_QUEUE],
    }


def _redis(b: Backend) -> dict[str, Any]:
    p = b.parts
    if not p.hostname:
        raise b.fail("write redis://host:6379/0")
    return {
        "url": p.hostname,
        "port": b.port(6379),
        "db": b.redis_db(),
        "password": unquote(p.password) if p.password else None,
        "key_prefix": KEY_PREFIX,
    }


def endpoints(
    actions_url: str, tracker_url: str, lock_url: str = "", broker_url: str = "", retention_s: float | None = None
) -> dict[str, Any]:
    """The whole endpoints.yml Rasa is started with."""
    config: dict[str, Any] = {
        "action_endpoint": {"url": f"{actions_url}/webhook"},
        "tracker_store": tracker_store(tracker_url, retention_s),
    }
    if lock := lock_store(lock_url):
        config["lock_store"] = lock
    if broker := event_broker(broker_url):
        config["event_broker"] = broker
    return config


# -- reachability ------------------------------------------------------------------------------
def first_line(exc: Exception) -> str:
    """A database error's first line (SQLAlchemy wraps the driver's message and adds a long tail)."""
    return (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]


def sql_engine(url: str) -> Any:
    """A SQLAlchemy engine for a SQLite or PostgreSQL URL, with a short connect timeout."""
    import sqlalchemy as sa

    b = Backend("SHOPKEEPER_TRACKER_URL", url)
    if b.scheme == "sqlite":
        return sa.create_engine(f"sqlite:///{tracker_store(url)['db']}")
    return sa.create_engine(
        url.replace("postgres://", "postgresql://", 1), connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
    )


def _check_sql(b: Backend) -> None:
    import sqlalchemy as sa

    if b.scheme == "sqlite":
        folder = Path(tracker_store(b.url)["db"]).parent
        if not folder.is_dir():
            raise b.fail(f"the folder {folder} does not exist")
    try:
        with sql_engine(b.url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        raise b.fail(f"cannot connect ({first_line(exc)})") from None


def _check_redis(b: Backend) -> None:
    import redis

    config = _redis(b)
    client = redis.Redis(
        host=config["url"],
        port=config["port"],
        db=config["db"],
        password=config["password"],
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        raise b.fail(f"cannot connect ({exc})") from None
    finally:
        client.close()


def check_redis(setting: str, url: str) -> None:
    """Raise BackendError naming ``setting`` unless ``url`` is a Redis that answers."""
    b = Backend(setting, url)
    if b.scheme != "redis":
        raise b.fail("write redis://host:6379/2")
    _check_redis(b)


def _check_amqp(b: Backend) -> None:
    config = event_broker(b.url) or {}
    try:
        with socket.create_connection((config["url"], config["port"]), timeout=CONNECT_TIMEOUT_S) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")  # the protocol header: a broker answers with Connection.Start
            if not sock.recv(8):
                raise OSError("the server closed the connection")
    except OSError as exc:
        raise b.fail(f"cannot connect ({exc})") from None


def prepare_records(url: str) -> int:
    """Migrate the shop's records at ``url`` to the current schema (a no-op when current); the version.

    Raises BackendError naming SHOPKEEPER_RECORDS_URL when the URL is wrong or the database does not
    answer, so the action server never starts on records it cannot write.
    """
    import sqlalchemy as sa

    b = Backend("SHOPKEEPER_RECORDS_URL", url)
    if b.scheme not in ("sqlite", "postgresql", "postgres"):
        raise b.fail("write postgresql://user:password@host:5432/database (or sqlite:///FILE)")
    try:
        records = Records(url)
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
        raise b.fail(f"not a database URL ({first_line(exc)})") from None
    try:
        return migrate(records)[1]
    except sa.exc.SQLAlchemyError as exc:
        raise b.fail(f"cannot open the shop's records ({first_line(exc)})") from None
    finally:
        records.dispose()


def check_reachable(tracker_url: str, lock_url: str = "", broker_url: str = "") -> None:
    """Raise BackendError, naming the setting, for the first configured engine that does not answer."""
    tracker = Backend("SHOPKEEPER_TRACKER_URL", tracker_url)
    tracker_store(tracker_url)  # malformed URLs fail before any connection is tried
    if tracker.scheme == "redis":
        _check_redis(tracker)
    else:
        _check_sql(tracker)
    if lock_store(lock_url):
        _check_redis(Backend("SHOPKEEPER_LOCK_URL", lock_url))
    if event_broker(broker_url):
        _check_amqp(Backend("SHOPKEEPER_EVENT_BROKER_URL", broker_url))
