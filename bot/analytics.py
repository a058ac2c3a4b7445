"""Conversation analytics from Rasa's event broker: what shoppers ask for and where the bot fails them.

    python -m bot.analytics consume       # reads the shopkeeper_events queue (SHOPKEEPER_EVENT_BROKER_URL)
    python -m bot.analytics report        # a table for the last 7 days (--days N)

Rasa publishes every event of every conversation to RabbitMQ (``event_broker`` in endpoints.yml);
this consumer turns them into daily counts: conversations, turns by modality (typed or spoken),
intents, fallbacks, searches, orders placed and requests for a human. Only counts are kept, never
what was said, so the report holds nothing personal. A message is acknowledged after it is counted:
a consumer that dies loses nothing, the broker redelivers. The counts live in the tracker store's
SQL database (their own tables), or in ``analytics.db`` beside the shop database when conversations
are in Redis. The launcher runs the consumer whenever a broker is configured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from typing import Any

from bot.backends import EVENT_QUEUE, Backend, BackendError, default_tracker_url, event_broker, sql_engine
from bot.settings import BotSettings
from catalog import CatalogSettings

# Actions worth a line of their own in the report.
COUNTED_ACTIONS = {
    "action_search_products": "searches",
    "action_place_order": "orders placed",
    "action_handoff": "asked for a human",
    "action_default_fallback": "fallbacks",
}
FALLBACK_INTENT = "nlu_fallback"
RASA_EXCHANGE = "rasa-exchange"  # the fanout exchange Rasa's pika broker publishes to

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS analytics_daily (day VARCHAR(10) NOT NULL, metric VARCHAR(40) NOT NULL, "
    "key VARCHAR(255) NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, metric, key))",
    "CREATE TABLE IF NOT EXISTS analytics_conversations (day VARCHAR(10) NOT NULL, "
    "sender_id VARCHAR(255) NOT NULL, PRIMARY KEY (day, sender_id))",
)


def analytics_url(tracker_url: str, shop_db: Any) -> str:
    """The tracker store's database when it is SQL, else a SQLite file beside the shop database."""
    if Backend("SHOPKEEPER_TRACKER_URL", tracker_url).scheme == "redis":
        return default_tracker_url(shop_db).replace("trackers.db", "analytics.db")
    return tracker_url


def counts_of(event: dict[str, Any]) -> list[tuple[str, str]]:
    """The (metric, key) counters one Rasa event adds to."""
    kind = event.get("event")
    if kind == "user":
        intent = str(((event.get("parse_data") or {}).get("intent") or {}).get("name") or "unknown")
        modality = str((event.get("metadata") or {}).get("modality") or "text")
        found = [("turns", modality), ("intents", intent)]
        if intent == FALLBACK_INTENT:
            found.append(("outcomes", "fallbacks"))
        return found
    if kind == "action" and event.get("name") in COUNTED_ACTIONS:
        return [("outcomes", COUNTED_ACTIONS[str(event["name"])])]
    return []


class Counts:
    """The daily counters in a SQL database (SQLite or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.sa = sa
        self.engine = sql_engine(url)
        with self.engine.begin() as conn:
            for statement in SCHEMA:
                conn.execute(sa.text(statement))

    def record(self, event: dict[str, Any]) -> None:
        found = counts_of(event)
        if not found:
            return
        day = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.timezone.utc).date().isoformat()
        with self.engine.begin() as conn:
            for metric, key in found:
                conn.execute(
                    self.sa.text(
                        "INSERT INTO analytics_daily (day, metric, key, count) VALUES (:day, :metric, :key, 1) "
                        "ON CONFLICT (day, metric, key) DO UPDATE SET count = analytics_daily.count + 1"
                    ),
                    {"day": day, "metric": metric, "key": key[:255]},
                )
            if event.get("event") == "user":
                conn.execute(
                    self.sa.text(
                        "INSERT INTO analytics_conversations (day, sender_id) VALUES (:day, :sender) "
                        "ON CONFLICT (day, sender_id) DO NOTHING"
                    ),
                    {"day": day, "sender": str(event.get("sender_id") or "")[:255]},
                )

    def totals(self, days: int, today: dt.date | None = None) -> dict[str, dict[str, int]]:
        """``{metric: {key: count}}`` over the last ``days`` days, plus ``conversations``."""
        since = ((today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=days - 1)).isoformat()
        found: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                self.sa.text(
                    "SELECT metric, key, SUM(count) FROM analytics_daily WHERE day >= :since GROUP BY metric, key"
                ),
                {"since": since},
            )
            for metric, key, count in rows:
                found.setdefault(metric, {})[key] = int(count)
            conversations = conn.execute(
                self.sa.text("SELECT COUNT(DISTINCT sender_id) FROM analytics_conversations WHERE day >= :since"),
                {"since": since},
            ).scalar()
        found["conversations"] = {"all": int(conversations or 0)}
        return found


def report(counts: Counts, days: int) -> str:
    totals = counts.totals(days)
    turns = totals.get("turns", {})
    all_turns = sum(turns.values())
    lines = [f"Conversations in the last {days} day(s): {totals['conversations']['all']}"]
    lines.append(f"Turns: {all_turns} ({', '.join(f'{k} {v}' for k, v in sorted(turns.items())) or 'none'})")
    for name, count in sorted(totals.get("outcomes", {}).items()):
        share = f" ({count / all_turns:.0%} of turns)" if all_turns and name == "fallbacks" else ""
        lines.append(f"{name.capitalize()}: {count}{share}")
    top = sorted(totals.get("intents", {}).items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    if top:
        lines.append("Top requests: " + ", ".join(f"{intent} {count}" for intent, count in top))
    return "\n".join(lines)


async def consume(broker_url: str, counts: Counts) -> None:
    """Count events from the queue until cancelled."""
    import aio_pika

    config = event_broker(broker_url)
    if config is None:
        raise Backend("SHOPKEEPER_EVENT_BROKER_URL", broker_url).fail("no broker configured")
    connection = await aio_pika.connect_robust(
        host=config["url"], port=config["port"], login=config["username"], password=config["password"]
    )
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=200)
        queue = await channel.declare_queue(EVENT_QUEUE, durable=True)  # as Rasa declares it
        exchange = await channel.declare_exchange(RASA_EXCHANGE, type=aio_pika.ExchangeType.FANOUT)
        await queue.bind(exchange, "")  # bound before Rasa's first start too: no early event is lost
        shown = Backend("SHOPKEEPER_EVENT_BROKER_URL", broker_url).shown
        print(f"Counting conversation events from {shown}", flush=True)
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process(requeue=True):  # acknowledged once counted
                    try:
                        event = json.loads(message.body)
                    except ValueError:
                        continue  # not an event: acknowledged and dropped
                    if isinstance(event, dict):
                        counts.record(event)


def main(argv: list[str] | None = None) -> int:
    settings = BotSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m bot.analytics", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["consume", "report"])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--broker-url", default=settings.event_broker_url)
    parser.add_argument("--tracker-url", default=settings.tracker_url)
    args = parser.parse_args(argv)
    shop_db = CatalogSettings.from_env().db
    try:
        counts = Counts(analytics_url(args.tracker_url or default_tracker_url(shop_db), shop_db))
        if args.command == "report":
            print(report(counts, args.days))
            return 0
        print("(Ctrl-C to stop)", flush=True)
        asyncio.run(consume(args.broker_url, counts))
    except BackendError as exc:
        print(exc)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
