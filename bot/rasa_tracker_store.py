"""Rasa's tracker stores, made to fail a turn instead of answering it without its conversation.

Rasa's Agent wraps every tracker store in ``FailSafeTrackerStore``. When the database does not
answer (PostgreSQL restarting, say), that wrapper hands the turn a new, empty in-memory tracker:
the shopper is told their cart is empty and "the second one" means nothing (measured under load:
2 empty carts and 2 lost searches during a PostgreSQL restart). Nothing is lost in the database,
but the answers are wrong. Here the error goes up instead: Rasa answers the turn with an error,
the gateway tells the shopper "please try again", and the next turn, once the database is back,
finds the conversation where it was.

endpoints.yml names ``SQLStore`` or ``RedisStore`` (bot/backends.py), so Rasa imports this module
before it builds its Agent; importing it puts ``StrictTrackerStore`` where the Agent looks.
"""

from __future__ import annotations

from typing import Any

import rasa.core.agent
from rasa.core.tracker_store import FailSafeTrackerStore, RedisTrackerStore, SQLTrackerStore


class StrictTrackerStore(FailSafeTrackerStore):
    """Like Rasa's wrapper, except that reading or saving a conversation never falls back to memory."""

    async def retrieve(self, sender_id: str) -> Any:
        return await self._tracker_store.retrieve(sender_id)

    async def retrieve_full_tracker(self, sender_id: str) -> Any:
        return await self._tracker_store.retrieve_full_tracker(sender_id)

    async def save(self, tracker: Any) -> None:
        await self._tracker_store.save(tracker)


# The Agent builds its wrapper from this module-level name (rasa/core/agent.py, Rasa 3.6).
rasa.core.agent.FailSafeTrackerStore = StrictTrackerStore


class SQLStore(SQLTrackerStore):
    """Rasa's SQL tracker store (SQLite, PostgreSQL), named so that this module is loaded."""


class RedisStore(RedisTrackerStore):
    """Rasa's Redis tracker store, named so that this module is loaded."""
