"""Keep the tracker store bounded: delete conversations idle for longer than the retention period.

    python -m bot.retention            # SHOPKEEPER_TRACKER_URL, SHOPKEEPER_TRACKER_RETENTION_DAYS
    python -m bot.retention --days 7

The launcher runs it at start and every few hours. Rasa's SQL tracker store keeps every event of
every conversation in one ``events`` table; a conversation whose newest event is older than the
cut-off is finished (Rasa's own session expiry is an hour), so all its rows go. A Redis tracker
store needs no job: each conversation's key expires by itself (``record_exp``).
"""

from __future__ import annotations

import argparse
import time

from bot.backends import Backend, BackendError, default_tracker_url, first_line, sql_engine
from bot.settings import BotSettings
from catalog import CatalogSettings

DAY_S = 86400.0


def prune_trackers(url: str, older_than_s: float, now: float | None = None) -> int:
    """Delete the conversations whose newest event is older than ``older_than_s``; how many went."""
    import sqlalchemy as sa

    if Backend("SHOPKEEPER_TRACKER_URL", url).scheme == "redis":
        return 0  # keys expire by themselves
    cutoff = (now or time.time()) - older_than_s
    engine = sql_engine(url)
    try:
        if not sa.inspect(engine).has_table("events"):
            return 0  # Rasa has not started on this store yet
        idle = "SELECT sender_id FROM events GROUP BY sender_id HAVING MAX(timestamp) < :cutoff"
        delete = sa.text("DELETE FROM events WHERE sender_id IN :ids").bindparams(sa.bindparam("ids", expanding=True))
        with engine.begin() as conn:  # one transaction: a conversation goes whole or not at all
            senders = [row[0] for row in conn.execute(sa.text(idle), {"cutoff": cutoff})]
            for start in range(0, len(senders), 500):
                conn.execute(delete, {"ids": senders[start : start + 500]})
        return len(senders)
    except sa.exc.SQLAlchemyError as exc:
        raise Backend("SHOPKEEPER_TRACKER_URL", url).fail(f"cannot prune ({first_line(exc)})") from None
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    settings = BotSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m bot.retention", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=settings.tracker_url or default_tracker_url(CatalogSettings.from_env().db))
    parser.add_argument("--days", type=float, default=settings.tracker_retention_days)
    args = parser.parse_args(argv)
    try:
        deleted = prune_trackers(args.url, args.days * DAY_S)
    except BackendError as exc:
        print(exc)
        return 2
    shown = Backend("SHOPKEEPER_TRACKER_URL", args.url).shown
    print(f"Deleted {deleted} conversation(s) idle for more than {args.days:g} days from {shown}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
