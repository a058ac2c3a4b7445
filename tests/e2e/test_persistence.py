"""Nothing forgotten: conversations survive a hard kill, on SQLite (the default) and on PostgreSQL;
two Rasa servers sharing the stores answer one conversation in turn, serialised by the Redis lock
store; the analytics consumer counts the conversation from Rasa's events on RabbitMQ.

Each test starts its own action server and Rasa server(s) with the launcher, on a private copy of the
demo shop, and kills them with SIGKILL, as a crash would.
"""

from __future__ import annotations

import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.launcher import DEFAULT_MODEL, Services, free_port
from catalog.cli import main as catalog_cli
from catalog.demo.orders import DEMO_EMAIL
from catalog.store import Store
from tests.actions_helpers import mailed_code
from tests.backing_services import AMQP, REDIS, drop_database, fresh_postgres_database
from tests.rest_helpers import listed_names, say

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first")


def _services(demo_db: Path, tmp_path: Path, **stores: str) -> Services:
    db = tmp_path / "shop.db"
    shutil.copy(demo_db, db)
    return Services(
        actions_port=free_port(),
        rasa_port=free_port(),
        gateway_port=free_port(),
        db=str(db),
        rasa_token=secrets.token_hex(8),
        **stores,
    )


def _tracker_events(services: Services, rasa_url: str, sender: str) -> list[dict]:
    response = httpx.get(
        f"{rasa_url}/conversations/{sender}/tracker", params={"token": services.rasa_token}, timeout=30
    )
    response.raise_for_status()
    return list(response.json()["events"])


def test_a_hard_kill_of_everything_forgets_no_conversation_on_sqlite(demo_db: Path, tmp_path: Path) -> None:
    with _services(demo_db, tmp_path) as services:
        services.start(gateway=False)
        rasa = services.rasa_url
        shopper, tracking = f"crash-{uuid.uuid4().hex[:6]}", f"crash-{uuid.uuid4().hex[:6]}"
        names = listed_names(say(rasa, shopper, "show me running shoes under 100"))
        assert len(names) >= 2
        assert f"Added 1 x {names[1]}" in say(rasa, shopper, "add the second one to my cart")
        assert "email" in say(rasa, shopper, "checkout").lower(), "the checkout form waits for an e-mail"
        assert "email" in say(rasa, tracking, "where is order 10002").lower(), "the order form waits for an e-mail"

        services.kill("rasa")
        services.kill("actions")
        assert (tmp_path / "trackers.db").stat().st_size > 0, "the default store is a file beside the shop database"
        services.start(gateway=False)

        order = Store(services.db).order("10002")
        assert order and order.carrier in say(rasa, tracking, DEMO_EMAIL), "the form remembered the order number"
        asked = say(rasa, shopper, "new.shopper@example.com")
        assert "code" in asked.lower(), "the checkout form went on where it was"
        assert "address" in say(rasa, shopper, mailed_code(Store(services.db), "new.shopper@example.com")).lower()
        say(rasa, shopper, "forget it")
        assert names[1] in say(rasa, shopper, "what's in my cart"), "the cart survived"
        assert names[0] in say(rasa, shopper, "tell me about the first one"), "so did the last search"


def names_of(rasa: str, sender: str, query: str = "show me headphones") -> list[str]:
    names = listed_names(say(rasa, sender, query))
    assert names, f"no products listed for {query!r}"
    return names


def _post(rasa_url: str, sender: str, message: str) -> httpx.Response:
    return httpx.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60)


@contextmanager
def _refusing_new_events(url: str) -> Iterator[None]:
    """While the block runs, the tracker store's database refuses every new event (reads still work)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            sa.text(
                "CREATE FUNCTION refuse_event() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
                " LANGUAGE plpgsql"
            )
        )
        trigger = "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_event()"
        conn.execute(sa.text(trigger))
    try:
        yield
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse ON events"))
            conn.execute(sa.text("DROP FUNCTION refuse_event()"))
        engine.dispose()


def _turns_are_whole(events: list[dict]) -> bool:
    """Each user message is followed by the bot's actions and a listen before the next one starts."""
    kinds = [
        "user" if e["event"] == "user" else "listen" if e.get("name") == "action_listen" else "act"
        for e in events
        if e["event"] in ("user", "action")
    ]
    turns = "".join({"user": "u", "listen": "l", "act": "a"}[k] for k in kinds).split("u")[1:]
    return all(t.endswith("l") and "a" in t for t in turns)


def _counted(url: str, sender: str) -> bool:
    """Whether the analytics consumer has counted this conversation (events Rasa sent through RabbitMQ)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT COUNT(*) FROM analytics_conversations WHERE sender_id = :s")
            return bool(conn.execute(query, {"s": sender}).scalar())
    except sa.exc.ProgrammingError:
        return False  # no table yet
    finally:
        engine.dispose()


def test_two_rasa_servers_share_postgresql_and_the_redis_lock_and_survive_a_kill(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stores = {"lock_url": f"{REDIS}/1", "broker_url": AMQP}
    with fresh_postgres_database() as url, _services(demo_db, tmp_path, tracker_url=url, **stores) as s:
        # The shop's records move into the same PostgreSQL, which both action servers then share.
        assert catalog_cli(["--db", str(s.db), "copy-records", "--to", url]) == 0
        monkeypatch.setenv("SHOPKEEPER_RECORDS_URL", url)
        s.start_actions()
        second_actions = free_port()
        s.start_actions(name="actions-2", port=second_actions)
        s.start_analytics()
        s.start_rasa()
        second = free_port()
        s.start_rasa(name="rasa-2", port=second, actions_url=s.internal_url(second_actions))
        replicas = [s.rasa_url, f"http://127.0.0.1:{second}"]
        sender = f"replicas-{uuid.uuid4().hex[:6]}"

        # A code mailed by one action server is checked by the other: codes and proofs are shared records.
        buyer = f"buyer-{uuid.uuid4().hex[:6]}"
        assert f"Added 1 x {names_of(replicas[0], buyer)[0]}" in say(replicas[0], buyer, "add the first one to my cart")
        assert "email" in say(replicas[0], buyer, "checkout").lower()
        assert "code" in say(replicas[0], buyer, "new.shopper@example.com").lower()
        code = mailed_code(Store(s.db, records_url=url), "new.shopper@example.com")
        assert "address" in say(replicas[1], buyer, code).lower(), "the second action server accepted the code"
        say(replicas[1], buyer, "forget it")

        names = listed_names(say(replicas[0], sender, "show me headphones"))
        assert len(names) >= 2, "a search on the first replica"
        assert f"Added 1 x {names[0]}" in say(replicas[1], sender, "add the first one to my cart")
        assert names[0] in say(replicas[0], sender, "what's in my cart"), "the first replica sees the second's turn"

        # Two messages of one conversation at once, one to each replica: the lock store runs them in turn.
        with ThreadPoolExecutor(2) as pool:
            both = list(pool.map(lambda rasa: say(rasa, sender, "what's in my cart"), replicas))
        assert all(names[0] in reply for reply in both)
        events = _tracker_events(s, replicas[1], sender)
        assert sum(e["event"] == "user" for e in events) == 5 and _turns_are_whole(events)

        s.kill("rasa")  # one replica crashes: the other carries the conversation on
        assert names[0] in say(replicas[1], sender, "what's in my cart")
        s.kill("rasa-2")  # then both: PostgreSQL still holds everything
        s.start_rasa()
        assert names[1] in say(replicas[0], sender, "tell me about the second one"), "the search context too"
        assert names[0] in say(replicas[0], sender, "what's in my cart")
        deadline = time.monotonic() + 30
        while not _counted(url, sender) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _counted(url, sender), "the analytics consumer counted the conversation from RabbitMQ"

        # Saving a turn fails after its actions ran: the turn is failed (HTTP 500, no replies; the
        # gateway says "please say it again"), not confirmed as "Added" and then forgotten.
        with _refusing_new_events(url):
            failed = _post(replicas[0], sender, "add the second one to my cart")
            assert failed.status_code == 500 and "Added" not in failed.text
        assert names[1] not in say(replicas[0], sender, "what's in my cart"), "the failed turn left nothing"
        assert f"Added 1 x {names[1]}" in say(replicas[0], sender, "add the second one to my cart")

        # The database goes away: the turn fails instead of being answered on a blank conversation
        # ("your cart is empty").
        drop_database(url)
        gone = _post(replicas[0], sender, "what's in my cart")
        assert gone.status_code == 500 and gone.json()["error"] == "turn_failed"
