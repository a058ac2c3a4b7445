"""Rasa's tracker stores as Shopkeeper configures them (SQLite file, PostgreSQL, Redis: a conversation
written by one store is read back by the next, as after a restart), and Rasa's check of action
server responses with its validator built once (same verdicts as Rasa's own)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import backends, rasa_action_check
from bot.rasa_tracker_store import SQLStore
from tests.backing_services import REDIS, fresh_postgres_database

DOMAIN = Domain.from_path(Path(__file__).resolve().parents[2] / "domain.yml")


def _store(path: Path) -> SQLStore:
    return SQLStore(domain=DOMAIN, dialect="sqlite", db=str(path))


def _store_for(url: str) -> TrackerStore:
    """The tracker store a Rasa server builds from the endpoints.yml Shopkeeper writes for ``url``."""
    config = backends.tracker_store(url)
    return TrackerStore.create(EndpointConfig.from_dict(config), DOMAIN)


@contextmanager
def _tracker_url(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{tmp_path / 'trackers.db'}"
    elif engine == "postgresql":
        with fresh_postgres_database() as url:
            yield url
    else:
        yield f"{REDIS}/3"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "redis"])
def test_a_conversation_is_read_back_by_a_new_store(engine: str, tmp_path: Path) -> None:
    sender = f"shopper-{uuid.uuid4().hex}"
    tracker = DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_listen"),
            UserUttered("show me running shoes", {"name": "search_products", "confidence": 0.9}),
            SlotSet("search_query", "running shoes"),
        ],
    )
    with _tracker_url(engine, tmp_path) as url:
        asyncio.run(_store_for(url).save(tracker))
        tracker.update(ActionExecuted("action_search"))
        asyncio.run(_store_for(url).save(tracker))  # a second write after a turn

        restored = asyncio.run(_store_for(url).retrieve(sender))  # as after a restart
        assert restored is not None
        assert [e.as_dict()["event"] for e in restored.events] == ["action", "user", "slot", "action"]
        assert restored.get_slot("search_query") == "running shoes"
        assert restored.latest_message is not None and restored.latest_message.text == "show me running shoes"
        assert asyncio.run(_store_for(url).retrieve(f"someone-else-{uuid.uuid4().hex}")) is None


def test_the_sqlite_file_is_in_write_ahead_log_mode_with_pooled_connections(tmp_path: Path) -> None:
    path = tmp_path / "trackers.db"
    store = _store(path)
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with store.engine.connect() as first:
        raw = first.connection.dbapi_connection
    with store.engine.connect() as second:
        assert second.connection.dbapi_connection is raw  # the same connection, not a new one


VALID = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "cart", "value": [{"id": "p1", "quantity": 2}]}], "responses": []},
    {
        "events": [{"event": "slot", "name": "page", "value": 2, "timestamp": None}],
        "responses": [{"text": "Here are 5 products", "buttons": [{"title": "more", "payload": "/more"}]}],
    },
    {"events": [{"event": "followup", "name": "action_search"}], "responses": [{"custom": {"k": 1}}]},
]
INVALID = [
    {"events": [{"event": "slot"}], "responses": []},  # a slot event without a name
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": ["a string, not an object"]},
]


@pytest.mark.parametrize("response", VALID)
def test_a_valid_action_response_passes_as_with_jsonschema(response: dict[str, Any]) -> None:
    jsonschema.validate(response, RemoteAction.action_response_format_spec())  # Rasa's own check agrees
    assert rasa_action_check.validate_action_result(RemoteAction("action_search", None), response)


@pytest.mark.parametrize("response", INVALID)
def test_a_bad_action_response_is_rejected_as_with_jsonschema(response: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(response, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server response"):
        rasa_action_check.validate_action_result(RemoteAction("action_search", None), response)


def test_rasa_servers_use_the_check_once_the_tracker_store_module_is_loaded() -> None:
    import bot.rasa_tracker_store  # noqa: F401  (what endpoints.yml makes Rasa import)

    action = RemoteAction("action_search", None)
    assert action._validate_action_result.__func__ is rasa_action_check.validate_action_result
