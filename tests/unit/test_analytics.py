"""Conversation analytics: Rasa events from the real RabbitMQ, counted into SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

import pytest

from bot.analytics import RASA_EXCHANGE, Counts, consume, counts_of, report
from tests.backing_services import AMQP, fresh_postgres_database


def _user(sender: str, intent: str, modality: str = "text", at: float | None = None) -> dict:
    return {
        "event": "user",
        "sender_id": sender,
        "timestamp": at or time.time(),
        "text": "my e-mail is alex.morgan@example.com",
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}},
        "metadata": {"modality": modality},
    }


def _action(sender: str, name: str) -> dict:
    return {"event": "action", "sender_id": sender, "timestamp": time.time(), "name": name}


def test_each_event_adds_to_its_counters() -> None:
    assert counts_of(_user("a", "search_products", "voice")) == [("turns", "voice"), ("intents", "search_products")]
    assert ("outcomes", "fallbacks") in counts_of(_user("a", "nlu_fallback"))
    assert counts_of(_action("a", "action_place_order")) == [("outcomes", "orders placed")]
    assert counts_of(_action("a", "action_listen")) == [] and counts_of({"event": "slot", "name": "email"}) == []


def _check_counts(url: str) -> None:
    counts = Counts(url)
    old = time.time() - 30 * 86400
    for event in [
        _user("a", "search_products"),
        _action("a", "action_search_products"),
        _user("a", "search_products", "voice"),
        _user("b", "nlu_fallback"),
        _action("b", "action_handoff"),
        _user("c", "greet", at=old),
    ]:
        counts.record(event)
    totals = counts.totals(days=7)
    assert totals["conversations"] == {"all": 2}, "c spoke a month ago"
    assert totals["turns"] == {"text": 2, "voice": 1} and totals["intents"]["search_products"] == 2
    assert totals["outcomes"] == {"searches": 1, "fallbacks": 1, "asked for a human": 1}
    text = report(counts, 7)
    assert "Conversations in the last 7 day(s): 2" in text and "Fallbacks: 1 (33% of turns)" in text
    assert "example.com" not in text, "counts only: nothing a shopper said is kept"


def test_counts_on_sqlite(tmp_path: Path) -> None:
    _check_counts(f"sqlite:///{tmp_path}/trackers.db")


def test_counts_on_postgresql() -> None:
    with fresh_postgres_database() as url:
        _check_counts(url)


@pytest.mark.slow
def test_the_consumer_counts_what_rasa_publishes_to_rabbitmq(tmp_path: Path) -> None:
    import aio_pika

    counts = Counts(f"sqlite:///{tmp_path}/trackers.db")
    sender = f"broker-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        consumer = asyncio.create_task(consume(AMQP, counts))
        await asyncio.sleep(1.0)  # the consumer declares and binds its queue
        connection = await aio_pika.connect_robust(AMQP)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(RASA_EXCHANGE, type=aio_pika.ExchangeType.FANOUT)
            for event in [_user(sender, "track_order"), _action(sender, "action_handoff")]:
                await exchange.publish(aio_pika.Message(json.dumps(event).encode()), "")
            await exchange.publish(aio_pika.Message(b"not json"), "")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and counts.totals(1).get("outcomes", {}).get("asked for a human", 0) < 1:
            await asyncio.sleep(0.2)
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer  # closes its connection before the loop ends

    asyncio.run(scenario())
    totals = counts.totals(1)
    assert totals["intents"].get("track_order", 0) >= 1 and totals["outcomes"]["asked for a human"] >= 1
