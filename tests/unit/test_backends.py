"""Where Rasa keeps conversations: URLs turned into endpoints.yml, checked against the real engines,
and the retention job on Rasa's own SQL tracker store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot import backends
from bot.retention import DAY_S, prune_trackers
from tests.backing_services import AMQP, CLOSED_PORT, POSTGRES, REDIS, fresh_postgres_database


def test_each_url_becomes_the_config_rasa_reads(tmp_path: Path) -> None:
    sqlite = backends.tracker_store(f"sqlite:///{tmp_path}/t.db")
    assert sqlite == {"type": backends.SQL_STORE_CLASS, "dialect": "sqlite", "db": str(tmp_path / "t.db")}
    pg = backends.tracker_store("postgresql://shop:p%40ss@db.internal:6543/conversations")
    assert pg == {
        "type": backends.SQL_STORE_CLASS,
        "dialect": "postgresql",
        "url": "db.internal",
        "port": 6543,
        "db": "conversations",
        "username": "shop",
        "password": "p@ss",
    }
    redis = backends.tracker_store("redis://:secret@cache:6380/2", retention_s=3600)
    assert redis["type"] == backends.REDIS_STORE_CLASS
    assert (redis["url"], redis["port"], redis["db"]) == ("cache", 6380, 2)
    assert redis["password"] == "secret" and redis["record_exp"] == 3600
    config = backends.endpoints("http://127.0.0.1:5055", f"sqlite:///{tmp_path}/t.db", f"{REDIS}/1", AMQP)
    assert config["action_endpoint"] == {"url": "http://127.0.0.1:5055/webhook"}
    assert config["lock_store"]["type"] == backends.LOCK_STORE_CLASS and config["lock_store"]["db"] == 1
    assert config["event_broker"]["type"] == "pika" and config["event_broker"]["queues"] == [backends.EVENT_QUEUE]
    assert set(backends.endpoints("http://a", f"sqlite:///{tmp_path}/t.db")) == {"action_endpoint", "tracker_store"}


def test_the_default_tracker_file_sits_beside_the_shop_database(tmp_path: Path) -> None:
    url = backends.default_tracker_url(tmp_path / "shop.db")
    assert backends.tracker_store(url)["db"] == str(tmp_path / "trackers.db")


@pytest.mark.parametrize(
    ("setting", "url", "why"),
    [
        ("SHOPKEEPER_TRACKER_URL", "mysql://db/x", "use sqlite:///file"),
        ("SHOPKEEPER_TRACKER_URL", "sqlite://", "name a file"),
        ("SHOPKEEPER_TRACKER_URL", "postgresql://db.internal", "postgresql://user:password@host:5432/database"),
        ("SHOPKEEPER_TRACKER_URL", "redis://cache:abc/0", "the port is not a number"),
        ("SHOPKEEPER_LOCK_URL", "postgresql://db/x", "the lock store is Redis"),
        ("SHOPKEEPER_LOCK_URL", "redis://cache/zero", "a Redis database is a number"),
        ("SHOPKEEPER_EVENT_BROKER_URL", "kafka://broker:9092", "the event broker is RabbitMQ"),
    ],
)
def test_a_malformed_url_names_its_setting(setting: str, url: str, why: str) -> None:
    tracker, lock, broker = "sqlite:///var/t.db", "", ""
    tracker = url if setting == "SHOPKEEPER_TRACKER_URL" else tracker
    lock = url if setting == "SHOPKEEPER_LOCK_URL" else lock
    broker = url if setting == "SHOPKEEPER_EVENT_BROKER_URL" else broker
    with pytest.raises(backends.BackendError) as raised:
        backends.endpoints("http://a", tracker, lock, broker)
    assert str(raised.value).startswith(f"{setting}=") and why in str(raised.value)


def test_the_real_engines_answer(tmp_path: Path) -> None:
    backends.check_reachable(f"{POSTGRES}/test", f"{REDIS}/1", AMQP)
    backends.check_reachable(f"sqlite:///{tmp_path}/t.db")
    backends.check_reachable(f"{REDIS}/0")


@pytest.mark.parametrize(
    ("tracker", "lock", "broker", "setting", "why"),
    [
        (f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/test", "", "", "SHOPKEEPER_TRACKER_URL", "cannot connect"),
        (f"{POSTGRES}/no_such_database", "", "", "SHOPKEEPER_TRACKER_URL", 'database "no_such_database"'),
        ("sqlite:////no/such/folder/t.db", "", "", "SHOPKEEPER_TRACKER_URL", "does not exist"),
        ("", f"redis://127.0.0.1:{CLOSED_PORT}/1", "", "SHOPKEEPER_LOCK_URL", "cannot connect"),
        ("", "", f"amqp://guest:secret@127.0.0.1:{CLOSED_PORT}", "SHOPKEEPER_EVENT_BROKER_URL", "cannot connect"),
    ],
)
def test_an_unreachable_engine_names_its_setting_and_hides_the_password(
    tmp_path: Path, tracker: str, lock: str, broker: str, setting: str, why: str
) -> None:
    started = time.monotonic()
    with pytest.raises(backends.BackendError) as raised:
        backends.check_reachable(tracker or f"sqlite:///{tmp_path}/t.db", lock, broker)
    message = str(raised.value)
    assert message.startswith(f"{setting}=") and why in message and "secret" not in message
    assert time.monotonic() - started < 3 * backends.CONNECT_TIMEOUT_S, "a wrong setting must not hang the start"


def _save_conversations(url: str, last_event_at: dict[str, float]) -> None:
    """Write conversations through Rasa's own SQL tracker store, each ending at the given time."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    config = backends.tracker_store(url)
    config.pop("type")
    store = SQLTrackerStore(Domain.empty(), host=config.pop("url", None), **config)
    for sender, at in last_event_at.items():
        events = [
            ActionExecuted("action_listen", timestamp=at - 60),
            UserUttered("show me running shoes", timestamp=at),
        ]
        asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))
    store.engine.dispose()


def _senders(url: str) -> set[str]:
    import sqlalchemy as sa

    engine = backends.sql_engine(url)
    with engine.connect() as conn:
        found = {row[0] for row in conn.execute(sa.text("SELECT DISTINCT sender_id FROM events"))}
    engine.dispose()
    return found


def _check_retention(url: str) -> None:
    now = time.time()
    assert prune_trackers(url, 30 * DAY_S) == 0, "no events table yet: nothing to do"
    _save_conversations(url, {"old": now - 40 * DAY_S, "recent": now - 2 * DAY_S, "today": now})
    assert prune_trackers(url, 30 * DAY_S, now=now) == 1
    assert _senders(url) == {"recent", "today"}
    assert prune_trackers(url, 1 * DAY_S, now=now) == 1
    assert _senders(url) == {"today"}


@pytest.mark.slow
def test_retention_forgets_idle_conversations_on_sqlite(tmp_path: Path) -> None:
    _check_retention(f"sqlite:///{tmp_path}/trackers.db")


@pytest.mark.slow
def test_retention_forgets_idle_conversations_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        _check_retention(url)
