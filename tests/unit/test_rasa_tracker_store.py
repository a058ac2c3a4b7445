"""Rasa's SQL tracker store as Shopkeeper runs it on a SQLite file, and Rasa's check of action
server responses with its validator built once: same conversations, same verdicts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_action_check
from bot.rasa_tracker_store import SQLStore

DOMAIN = Domain.from_path(Path(__file__).resolve().parents[2] / "domain.yml")


def _store(path: Path) -> SQLStore:
    return SQLStore(domain=DOMAIN, dialect="sqlite", db=str(path))


def test_a_conversation_is_read_back_by_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "trackers.db"
    tracker = DialogueStateTracker.from_events(
        "shopper-1",
        [
            ActionExecuted("action_listen"),
            UserUttered("show me running shoes", {"name": "search_products", "confidence": 0.9}),
            SlotSet("search_query", "running shoes"),
        ],
    )
    asyncio.run(_store(path).save(tracker))
    tracker.update(ActionExecuted("action_search"))
    asyncio.run(_store(path).save(tracker))  # a second write appends, as after a turn

    restored = asyncio.run(_store(path).retrieve("shopper-1"))  # as after a restart
    assert restored is not None
    assert [e.as_dict()["event"] for e in restored.events] == ["action", "user", "slot", "action"]
    assert restored.get_slot("search_query") == "running shoes"
    assert restored.latest_message is not None and restored.latest_message.text == "show me running shoes"
    assert asyncio.run(_store(path).retrieve("someone-else")) is None


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
