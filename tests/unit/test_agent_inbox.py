"""The agent inbox's records and its API's gatekeeping, on a real shop file (the take-over with a real
Rasa server and two browser pages is tests/e2e/test_agent_inbox.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.agent_inbox import AgentInbox, add_agent_routes, transcript
from bot.launcher import free_port
from bot.rasa_client import RasaClient
from catalog.store import Store

TOKEN = "inbox-secret"


def test_a_ticket_is_taken_by_one_agent_and_handed_back_only_by_them(store: Store) -> None:
    ticket = store.add_handoff("s-1", {"last_turns": []}, reason="contact_human_agent")
    assert store.open_handoff("s-1") == ticket and store.held_by_agent("s-1") is None
    assert store.take_handoff(ticket, "Sam")
    assert not store.take_handoff(ticket, "Alex"), "first come: the second agent is refused"
    assert store.held_by_agent("s-1") == "Sam"
    assert not store.close_handoff(ticket, "Alex"), "only the agent holding it hands it back"
    assert store.close_handoff(ticket, "Sam")
    assert store.held_by_agent("s-1") is None and store.open_handoff("s-1") is None
    assert store.handoff(ticket)["status"] == "closed" and store.handoffs("waiting", "taken") == []
    again = store.add_handoff("s-1", {"last_turns": []})
    assert store.take_handoff(again, "Sam")
    store.untake_handoff(again, "Sam")
    assert store.handoff(again)["status"] == "waiting" and store.handoff(again)["agent"] is None


def test_agents_online_are_those_seen_lately(store: Store) -> None:
    assert store.agents_online() == []
    store.agent_seen("Sam")
    store.agent_seen("Sam")  # a second poll updates, never duplicates
    assert store.agents_online() == ["Sam"]
    assert store.agents_online(within=dt.timedelta(seconds=-5)) == [], "seen before the window: not online"


def test_the_transcript_tells_shopper_bot_and_agent_apart() -> None:
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "talk to a human", "timestamp": 1},
        {"event": "bot", "text": "No one is online", "timestamp": 2},
        {"event": "pause", "timestamp": 3},
        {"event": "bot", "text": "Hi, Sam here", "timestamp": 4, "metadata": {"from": "agent", "agent": "Sam"}},
        {"event": "user", "text": "<b>hello</b>", "timestamp": 5},
    ]
    lines = transcript(events)
    assert [(line["from"], line["text"]) for line in lines] == [
        ("shopper", "talk to a human"),
        ("bot", "No one is online"),
        ("system", "conversation paused"),
        ("agent", "Hi, Sam here"),
        ("shopper", "<b>hello</b>"),
    ]
    assert lines[3]["agent"] == "Sam"


@pytest.fixture()
def inbox_app(shop_db: Path) -> Iterator[tuple[TestClient, Store]]:
    # A Rasa address where nothing listens: what the inbox does when the bot cannot be paused.
    rasa = RasaClient(f"http://127.0.0.1:{free_port()}", "http://127.0.0.1:1", 2, api_token="rasa-token")
    asyncio.run(rasa.open())
    app = FastAPI()
    add_agent_routes(app, AgentInbox(socketio.AsyncServer(async_mode="asgi"), rasa, shop_db, TOKEN))
    store = Store(shop_db)
    with TestClient(app) as client:
        yield client, store
    store.close()


def headers(token: str = TOKEN, name: str = "Sam") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Agent": name}


def test_the_inbox_api_needs_the_token_and_a_name(inbox_app: tuple[TestClient, Store]) -> None:
    client, store = inbox_app
    page = client.get("/agent")
    assert page.status_code == 200 and "Agent inbox" in page.text and TOKEN not in page.text
    assert client.get("/agent/api/tickets").status_code == 401
    assert client.get("/agent/api/tickets", headers=headers("guess")).status_code == 401
    assert client.get("/agent/api/tickets", headers=headers(name="<script>")).status_code == 400
    assert store.agents_online() == [], "nobody got in"
    ticket = store.add_handoff("s-9", {"last_turns": [{"from": "shopper", "text": "a person please"}]}, reason="x")
    listed = client.get("/agent/api/tickets", headers=headers()).json()
    assert listed["agents_online"] == ["Sam"]
    assert [(t["id"], t["status"], t["last_message"]) for t in listed["tickets"]] == [
        (ticket, "waiting", "a person please")
    ]
    assert client.get("/agent/api/tickets/999", headers=headers()).status_code == 404


def test_a_take_the_bot_cannot_honour_leaves_the_ticket_waiting(inbox_app: tuple[TestClient, Store]) -> None:
    client, store = inbox_app
    ticket = store.add_handoff("s-7", {"last_turns": []})
    said = client.post(f"/agent/api/tickets/{ticket}/messages", headers=headers(), json={"text": "hi"})
    assert said.status_code == 409, "no writing to a shopper before taking the conversation"
    taken = client.post(f"/agent/api/tickets/{ticket}/take", headers=headers())
    assert taken.status_code == 502 and "did not answer" in taken.json()["detail"]
    assert store.handoff(ticket)["status"] == "waiting", "the bot still answers there, so the ticket still waits"


def test_an_inbox_without_a_token_is_off(shop_db: Path) -> None:
    rasa = RasaClient("http://127.0.0.1:1", "http://127.0.0.1:1", 2)
    app = FastAPI()
    add_agent_routes(app, AgentInbox(socketio.AsyncServer(async_mode="asgi"), rasa, shop_db, ""))
    with TestClient(app) as client:
        refused = client.get("/agent/api/tickets", headers=headers(""))
    assert refused.status_code == 503 and "SHOPKEEPER_AGENT_TOKEN" in refused.json()["detail"]


def test_guessing_the_token_is_stopped_after_ten_tries(inbox_app: tuple[TestClient, Store]) -> None:
    client, _ = inbox_app
    for _ in range(10):
        assert client.get("/agent/api/tickets", headers=headers("guess")).status_code == 401
    assert client.get("/agent/api/tickets", headers=headers("guess")).status_code == 429
    assert client.get("/agent/api/tickets", headers=headers()).status_code == 429, "not even the right one, for now"
