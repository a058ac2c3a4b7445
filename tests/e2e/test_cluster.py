"""The production layout on one machine: two of each process behind HAProxy, conversations in
PostgreSQL, locks and socket.io rooms in Redis (`make cluster`'s code path), and what it survives."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from bot.cluster import Cluster
from bot.launcher import DEFAULT_MODEL, Services, free_port
from tests.backing_services import REDIS, fresh_postgres_database
from tests.rest_helpers import listed_names
from voice.client import TurnResult, VoiceClient

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first")


def text(result: TurnResult) -> str:
    return "\n".join(str(r.get("text", "")) for r in result.replies)


def test_two_of_everything_behind_haproxy_share_conversations_and_survive_losing_a_process(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rooms = f"{REDIS}/2"
    monkeypatch.setenv("SHOPKEEPER_GATEWAY_REDIS_URL", rooms)  # the gateways the launcher starts read it
    db = tmp_path / "shop.db"
    shutil.copy(demo_db, db)
    with fresh_postgres_database() as url:
        services = Services(
            actions_port=free_port(),
            rasa_port=free_port(),
            gateway_port=free_port(),
            db=str(db),
            tracker_url=url,
            lock_url=f"{REDIS}/1",
        )
        with services:
            cluster = Cluster(services, replicas=2, fixed_ports=False)
            cluster.start(rooms)
            front = services.gateway_url  # HAProxy
            gateways = [f"http://localhost:{port}" for port in cluster.gateway_ports]

            with VoiceClient(front) as shopper:
                names = listed_names(text(shopper.say_text("show me headphones")))
                assert len(names) >= 2
                assert f"Added 1 x {names[0]}" in text(shopper.say_text("add the first one to my cart"))
                session = shopper.session_id

            # The same conversation open on both gateways: a turn on one reaches the socket on the other.
            with VoiceClient(gateways[0], session) as speaker, VoiceClient(gateways[1], session) as watcher:
                assert names[0] in text(speaker.say_text("what's in my cart"))
                assert names[0] in str(watcher.next_reply().get("text")), "delivered through Redis"

            # A Rasa server dies: every conversation, whichever replica it hashes to, is still answered.
            services.kill("rasa-0")
            for _ in range(4):
                with VoiceClient(front) as newcomer:
                    assert listed_names(text(newcomer.say_text("show me running shoes"))), newcomer.session_id
            with VoiceClient(front, session) as shopper:
                assert names[0] in text(shopper.say_text("what's in my cart"))

            # A gateway dies: HAProxy stops sending to it and the shopper reconnects to the other.
            services.kill("gateway-0")
            time.sleep(7)  # three failed health checks, two seconds apart
            for _ in range(3):
                with VoiceClient(front, session) as shopper:
                    assert names[0] in text(shopper.say_text("what's in my cart"))
            with VoiceClient(front, f"not-signed-{uuid.uuid4().hex}") as stranger:
                assert stranger.session_id != session
