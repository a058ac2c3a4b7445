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
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, RedisTrackerStore, SQLTrackerStore

from bot import rasa_action_check

# Every Rasa server the launcher starts imports this module: the cheaper action-result check too.
rasa_action_check.install()


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
    """Rasa's SQL tracker store (SQLite, PostgreSQL), named so that this module is loaded.

    On SQLite, two changes to what Rasa builds, because Rasa reads and writes conversations on its
    event loop, so a slow read or commit holds up every conversation's turn, not just its own:
    - connections are kept in a pool (SQLAlchemy 1.4 opens a new one for every read and write
      of a SQLite file);
    - the file is in write-ahead-log mode with ``synchronous=NORMAL``: a commit appends to the log
      without waiting for the disk twice. A killed process loses nothing that was committed; a
      power cut may lose the last turns.
    """

    engine: Any  # set by Rasa's __init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            url = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, connect_args={"check_same_thread": False})
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")  # kept by the file
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")  # the retention job writes to the same file
    cursor.close()


class RedisStore(RedisTrackerStore):
    """Rasa's Redis tracker store, named so that this module is loaded."""
