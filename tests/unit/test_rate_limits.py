"""Token buckets per conversation and per client, and the origin allow-list (no servers)."""

from __future__ import annotations

from bot.origins import OriginPolicy
from bot.rate_limits import MAX_TRACKED, Buckets, RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_conversation_gets_its_share_a_minute_then_waits() -> None:
    clock = Clock()
    limits = RateLimits(5, 100, 60, 600, clock=clock)
    assert [limits.allow_message("s1", "1.2.3.4") for _ in range(6)] == [True] * 5 + [False]
    assert limits.allow_message("s2", "1.2.3.4"), "another conversation has its own"
    clock.now += 12  # 5 a minute: one more every 12 s
    assert limits.allow_message("s1", "1.2.3.4") and not limits.allow_message("s1", "1.2.3.4")


def test_one_client_cannot_dodge_the_limit_with_new_conversations() -> None:
    clock = Clock()
    limits = RateLimits(5, 8, 60, 600, clock=clock)
    allowed = sum(limits.allow_message(f"s{n}", "6.6.6.6") for n in range(20))
    assert allowed == 8
    assert limits.allow_message("s-new", "7.7.7.7"), "other clients are not affected"


def test_a_refused_turn_costs_nothing() -> None:
    clock = Clock()
    limits = RateLimits(2, 100, 60, 600, clock=clock)
    limits.allow_message("s", "c")
    limits.allow_message("s", "c")
    for _ in range(50):
        assert not limits.allow_message("s", "c")
    clock.now += 30  # one token back: refusals did not push it further away
    assert limits.allow_message("s", "c")


def test_audio_seconds_are_counted_per_conversation_and_client() -> None:
    clock = Clock()
    limits = RateLimits(100, 100, 10, 15, clock=clock)
    assert all(limits.allow_audio("s", "c", 0.5) for _ in range(20))  # 10 s of chunks
    assert not limits.allow_audio("s", "c", 0.5)
    assert limits.allow_audio("t", "c", 5.0) and not limits.allow_audio("u", "c", 0.5), "the client's 15 s"
    assert limits.allow_audio("s", "c", 0.0), "a container chunk is charged once decoded"


def test_idle_buckets_are_forgotten_so_memory_stays_bounded() -> None:
    clock = Clock()
    buckets = Buckets(10, clock)
    for n in range(MAX_TRACKED):
        buckets.take(f"k{n}", 1)
    clock.now += 60  # all refilled
    buckets.take("one-more", 1)
    assert len(buckets.buckets) == 1


def test_origins_the_gateways_own_pages_and_the_listed_sites_only() -> None:
    policy = OriginPolicy(["https://shop.example/"])
    environ = {"HTTP_HOST": "chat.shop.example:8000", "wsgi.url_scheme": "http"}
    assert policy.for_socketio("http://chat.shop.example:8000", environ), "the demo pages work"
    assert policy.for_socketio("https://shop.example", environ), "the shop's own site, listed"
    assert not policy.for_socketio("https://evil.example", environ)
    assert not policy.for_socketio("null", environ), "sandboxed frames and file:// pages"
    assert policy.for_socketio(None, environ), "no Origin: not a browser page (the voice client, curl)"
    assert not OriginPolicy().for_socketio("https://shop.example", environ), "nothing listed: nothing else"
