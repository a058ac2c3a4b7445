"""Per-conversation and per-client rate limits on messages and audio seconds (token buckets).

A conversation may send ``session_messages`` turns a minute and ``session_audio_s`` seconds of
audio a minute; one client address, whatever conversations it opens, four times that by default.
Over a limit, the gateway answers the documented ``rate_limited`` error and keeps the conversation.
Buckets that have refilled are forgotten, so memory stays bounded by the clients active lately.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_TRACKED = 50_000  # buckets kept before full (idle) ones are forgotten


@dataclass
class Bucket:
    tokens: float
    updated: float


class Buckets:
    """Token buckets by key: ``per_minute`` tokens a minute, at most ``per_minute`` at once."""

    def __init__(self, per_minute: float, clock: Callable[[], float]) -> None:
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self.clock = clock
        self.buckets: dict[str, Bucket] = {}

    def _refilled(self, key: str, now: float) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_TRACKED:
                self._forget_full(now)
            bucket = self.buckets[key] = Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for key in [k for k, b in self.buckets.items() if b.tokens + (now - b.updated) * self.rate >= self.capacity]:
            del self.buckets[key]

    def available(self, key: str) -> float:
        return self._refilled(key, self.clock()).tokens

    def take(self, key: str, amount: float) -> None:
        self._refilled(key, self.clock()).tokens -= amount


class RateLimits:
    def __init__(
        self,
        session_messages: float,
        client_messages: float,
        session_audio_s: float,
        client_audio_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.messages = (Buckets(session_messages, clock), Buckets(client_messages, clock))
        self.audio = (Buckets(session_audio_s, clock), Buckets(client_audio_s, clock))

    @staticmethod
    def _allow(pair: tuple[Buckets, Buckets], session: str, client: str, amount: float) -> bool:
        """Take ``amount`` from both buckets when both hold enough (a refused turn costs nothing)."""
        by_session, by_client = pair
        if by_session.available(session) < amount or by_client.available(client) < amount:
            return False
        by_session.take(session, amount)
        by_client.take(client, amount)
        return True

    def allow_message(self, session: str, client: str) -> bool:
        return self._allow(self.messages, session, client, 1.0)

    def allow_audio(self, session: str, client: str, seconds: float) -> bool:
        # A chunk is charged as it arrives; a partly used bucket may still take a small one.
        return seconds <= 0 or self._allow(self.audio, session, client, min(seconds, self.audio[0].capacity))


RATE_LIMITED = "rate_limited"


def rate_limited_message(what: str) -> str:
    return f"Too many {what} in a short time; please wait a few seconds and try again."


def client_address(environ: dict[str, Any]) -> str:
    """The client's address from an ASGI socket.io environ (engineio's REMOTE_ADDR is a placeholder)."""
    client = (environ.get("asgi.scope") or {}).get("client")
    return str(client[0]) if client else str(environ.get("REMOTE_ADDR") or "unknown")
