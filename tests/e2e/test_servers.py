"""End to end: the real action server and Rasa server, started by `make run`'s own code path.

Talks to them over REST and socket.io the way a web widget would, then stops everything.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
import socketio

from bot.launcher import DEFAULT_MODEL, Services
from catalog.demo.orders import DEMO_EMAIL
from catalog.store import Store

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first")


def rest(services: Services, sender: str, message: str) -> list[dict]:
    response = httpx.post(
        f"{services.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60
    )
    response.raise_for_status()
    return response.json()


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def listed_names(reply: str) -> list[str]:
    """Product names in a numbered result list ("1. Name - $12.99, ...")."""
    return re.findall(r"^\s*\d\. (.+?) - \$", reply, flags=re.M)


def test_rest_conversation_search_details_cart(services: Services) -> None:
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    assert "Shopkeeper" in texts(rest(services, sender, "hi"))
    names = listed_names(texts(rest(services, sender, "show me running shoes under 100")))
    assert len(names) >= 2 and all("Running Shoes" in n for n in names)
    second = names[1]
    details = texts(rest(services, sender, "tell me about the second one"))
    assert second in details and "Material" in details
    added = texts(rest(services, sender, "add it to my cart"))
    assert f"Added 1 x {second}" in added
    cart = texts(rest(services, sender, "what's in my cart"))
    assert second in cart and "Total" in cart


def test_rest_recommendations_follow_the_conversation(services: Services) -> None:
    """Real NLU, real policies, real action server: each request resolves against the product in context."""
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    rest(services, sender, "show me running shoes")
    opened = texts(rest(services, sender, "tell me about the first one"))
    seed = opened.split("**")[1]
    seed_price = Store(services.db).conn.execute("SELECT price FROM products WHERE name = ?", (seed,)).fetchone()[0]
    similar = texts(rest(services, sender, "show me something similar"))
    assert similar.count("Why:") == 3 and f"similar to the {seed}" in similar
    goes = texts(rest(services, sender, "what goes with this"))
    assert goes.count("Why:") == 3 and "Running Shoes" not in "".join(listed_names(goes))
    cheaper = texts(rest(services, sender, "any cheaper alternatives to it"))
    prices = [float(x) for x in re.findall(r"^\s*\d\. .+? - \$([\d.]+)", cheaper, flags=re.M)]
    assert prices and all(price < seed_price for price in prices)
    gift = texts(rest(services, sender, "recommend a gift for a runner under 80"))
    gift_prices = [float(x) for x in re.findall(r"^\s*\d\. .+? - \$([\d.]+)", gift, flags=re.M)]
    assert gift_prices and all(price <= 80 for price in gift_prices) and "runner" in gift
    names = listed_names(gift)
    compared = texts(rest(services, sender, "compare the first two"))
    assert names[0] in compared and names[1] in compared


def test_rest_verified_order_tracking(services: Services) -> None:
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    assert "order number" in texts(rest(services, sender, "where is my order")).lower()
    assert "email" in texts(rest(services, sender, "10002")).lower()
    reply = texts(rest(services, sender, DEMO_EMAIL))
    order = Store(services.db).order("10002")
    assert order and order.tracking_number in reply


def test_rest_bad_input_gets_an_answer(services: Services) -> None:
    sender = f"rest-{uuid.uuid4().hex[:8]}"
    for message in ["x" * 10_000, "<img src=x onerror=alert(1)>", "🙂", "order 99999 status"]:
        assert rest(services, sender, message), f"no reply to {message[:20]!r}"
    # The conversation still works afterwards.
    assert "Headphones" in texts(rest(services, sender, "show me headphones"))


def test_served_model_parses_with_the_fine_tuned_transformer(services: Services) -> None:
    """The archive alone serves the transformer: full ranking, entities with normalised spoken values."""
    response = httpx.post(
        f"{services.rasa_url}/model/parse", timeout=60, json={"text": "show me headphones under fifty dollars"}
    )
    response.raise_for_status()
    parsed = response.json()
    assert parsed["intent"]["name"] == "search_products"
    ranking = parsed["intent_ranking"]
    assert len(ranking) >= 40, "every intent is ranked, so fallback thresholds see the whole distribution"
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-3)
    by_type = {e["entity"]: e for e in parsed["entities"]}
    assert by_type["price_max"]["value"] == "50"
    assert by_type["price_max"]["extractor"] == "TransformerIntentClassifier"
    spoken = httpx.post(
        f"{services.rasa_url}/model/parse", timeout=60, json={"text": "where is order one zero zero zero two"}
    ).json()
    assert [e["value"] for e in spoken["entities"] if e["entity"] == "order_id"] == ["10002"]


def test_socketio_session_persists_across_reconnects(services: Services) -> None:
    session_id = f"sio-{uuid.uuid4().hex[:8]}"

    def exchange(messages: list[str]) -> tuple[str, list[dict]]:
        client = socketio.Client(reconnection=False)
        replies: list[dict] = []
        confirmed: list[str] = []
        client.on("bot_uttered", lambda data: replies.append(data))
        client.on("session_confirm", lambda data: confirmed.append(str(data)))
        client.connect(services.rasa_url, socketio_path="/socket.io", transports=["websocket"], wait_timeout=20)
        client.emit("session_request", {"session_id": session_id})
        for message in messages:
            before = len(replies)
            client.emit("user_uttered", {"message": message, "session_id": session_id})
            deadline = time.monotonic() + 60
            while len(replies) == before and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # let multi-message replies arrive
        client.disconnect()
        return (confirmed[0] if confirmed else ""), replies

    confirmed, replies = exchange(["show me bluetooth speakers"])
    assert session_id in confirmed
    listing = texts(replies)
    assert "Bluetooth Speaker" in listing
    assert any(r.get("quick_replies") or r.get("buttons") for r in replies), "buttons reach socket.io clients"
    first = listed_names(listing)[0]
    _, replies = exchange(["tell me about the first one"])
    assert first in texts(replies), "the second connection continues the same conversation"
