"""The Redis lock store several Rasa servers share: tickets taken at the same moment never collide,
and one conversation's turns never overlap (real Redis)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

from rasa.utils.endpoints import EndpointConfig

from bot import backends
from bot.rasa_lock_store import AtomicRedisLockStore
from tests.backing_services import REDIS


def _replica() -> AtomicRedisLockStore:
    config = backends.lock_store(f"{REDIS}/1")
    assert config is not None
    config.pop("type")
    return AtomicRedisLockStore(EndpointConfig(url=config.pop("url"), **config))


def test_simultaneous_tickets_on_many_replicas_are_all_different() -> None:
    conversation = f"lock-{uuid.uuid4().hex}"
    replicas = [_replica() for _ in range(4)]
    taken: list[int] = []
    start = threading.Barrier(len(replicas))

    def take(store: AtomicRedisLockStore) -> None:
        start.wait()
        for _ in range(25):
            taken.append(store.issue_ticket(conversation))

    threads = [threading.Thread(target=take, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 100 and len(set(taken)) == 100
    for number in taken:
        replicas[number % 4].cleanup(conversation, number)
    assert replicas[0].get_lock(conversation) is None, "the last ticket given back removes the lock"


def test_one_conversations_turns_on_two_replicas_run_one_after_the_other() -> None:
    conversation = f"lock-{uuid.uuid4().hex}"
    spans: list[tuple[float, float]] = []

    def turn(store: AtomicRedisLockStore) -> None:
        async def run() -> None:
            async with store.lock(conversation, wait_time_in_seconds=0.01):
                began = time.monotonic()
                await asyncio.sleep(0.05)  # the turn's work
                spans.append((began, time.monotonic()))

        asyncio.run(run())

    threads = [threading.Thread(target=turn, args=(_replica(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans.sort()
    assert len(spans) == 6
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False))
