"""Simulated shoppers for Locust (run by benchmarks/load.py in its own virtual environment).

Each user is one shopper holding one conversation: it searches, adds two products, thinks 1-3 s
between turns, and checks that its cart holds exactly what it added, so a reply that belongs to
another conversation (a cross-session leak) or a lost turn counts as a failure. ``SocketShopper``
talks to the gateway (or HAProxy) over socket.io, as the widget does; ``RestShopper`` talks to
Rasa's REST webhook. Every turn is one Locust request named for its transport.

Only Locust and python-socketio are imported: this file runs in .venv-load, not the product's venv.
"""

from __future__ import annotations

import os
import queue
import random
import re
import time
import uuid
from typing import Any

import requests
import socketio
from locust import User, between, events, task

GATEWAY = os.environ.get("LOAD_GATEWAY_URL", "http://127.0.0.1:8000")
RASA = os.environ.get("LOAD_RASA_URL", "http://127.0.0.1:5005")
TURN_TIMEOUT_S = 60.0
LISTED = re.compile(r"^\s*\d\. (.+?) - \$", re.M)
CART_LINE = re.compile(r"^\s*\d+\. (\d+) x (.+?) - \$", re.M)
SEARCHES = ["show me headphones", "show me running shoes under 100", "show me backpacks", "show me rain jackets"]
# Said now and then between shopping turns (a third of the time), as people do: conversations then
# pass through many different dialogue states, not one scripted path.
ASIDES = ["hi there", "thanks!", "what can you do?", "are you a bot?", "which payment methods do you take?"]


class TurnFailed(Exception):
    pass


class Conversation:
    """The shopper's side of a multi-turn chat: what it added, what the bot listed last."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.listed: list[str] = []

    def read(self, reply: str) -> None:
        names = LISTED.findall(reply)
        if names:
            self.listed = names

    def check_added(self, reply: str, position: int) -> None:
        if position >= len(self.listed):
            raise TurnFailed(f"no product {position + 1} listed to add")
        name = self.listed[position]
        if f"Added 1 x {name}" not in reply:
            raise TurnFailed(f"adding {name!r} got {reply[:120]!r}")
        self.added.append(name)

    def check_cart(self, reply: str) -> None:
        held = sorted(name for qty, name in CART_LINE.findall(reply) for _ in range(int(qty)))
        if held != sorted(self.added):
            raise TurnFailed(f"cart should hold {sorted(self.added)}, holds {held}")


class Shopper(User):
    abstract = True
    wait_time = between(1, 3)
    transport = ""

    def turn(self, text: str) -> str:
        raise NotImplementedError

    def timed_turn(self, text: str) -> str:
        started = time.perf_counter()
        reply, failure = "", None
        try:
            reply = self.turn(text)
        except Exception as exc:  # noqa: BLE001 - every failure is reported to Locust, then the shopper goes on
            failure = exc
        events.request.fire(
            request_type=self.transport,
            name="text turn",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(reply),
            exception=failure,
            context={},
        )
        if failure:
            raise TurnFailed(str(failure))
        return reply

    def checked(self, name: str, check: Any) -> None:
        """Report a behaviour check (the cart, the added product) as its own Locust request."""
        try:
            check()
            events.request.fire(
                request_type="check", name=name, response_time=0, response_length=0, exception=None, context={}
            )
        except TurnFailed as exc:
            events.request.fire(
                request_type="check", name=name, response_time=0, response_length=0, exception=exc, context={}
            )
            raise

    @task
    def shop(self) -> None:
        chat = Conversation()
        try:
            for position, search in ((0, self.random_search()), (1, self.random_search())):
                self.aside()
                chat.read(self.timed_turn(search))
                self.wait()
                self.aside()
                ordinal = ["first", "second"][position]
                added = self.timed_turn(f"add the {ordinal} one to my cart")
                self.checked("product added", lambda reply=added, at=position: chat.check_added(reply, at))
                self.wait()
            self.aside()
            cart = self.timed_turn("what's in my cart")
            self.checked("cart holds exactly what was added", lambda: chat.check_cart(cart))
        except TurnFailed:
            pass
        finally:
            self.restart()

    def random_search(self) -> str:
        return random.choice(SEARCHES)

    def aside(self) -> None:
        """Now and then a turn that is not shopping; the products listed last stay the ones meant."""
        if random.random() < 1 / 3:
            self.timed_turn(random.choice(ASIDES))
            self.wait()

    def restart(self) -> None:
        """The next task is a new shopper with an empty cart."""


class SocketShopper(Shopper):
    transport = "socket.io"
    weight = 3

    def on_start(self) -> None:
        self.connect()

    def connect(self) -> None:
        """A new socket and a new conversation (a failed connect is a failed "connect" request)."""
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.events = inbox
        self.session_id = ""  # until the gateway confirms one: never continue the previous shopper's
        self.sio = socketio.Client(reconnection=False)
        for name in ("session_confirm", "bot_uttered", "error", "turn_end"):
            self.sio.on(name, self._recorder(inbox, name))  # each socket fills its own queue only
        started, failure = time.perf_counter(), None
        try:
            self.sio.connect(GATEWAY, transports=["websocket"], wait_timeout=20)
            self.sio.emit("session_request", {"session_id": None})
            self.session_id = str(self._next({"session_confirm"})[1])
        except Exception as exc:  # noqa: BLE001 - reported to Locust; the next turn tries again
            failure = exc
        events.request.fire(
            request_type=self.transport,
            name="connect",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=failure,
            context={},
        )

    @staticmethod
    def _recorder(inbox: queue.Queue[tuple[str, Any]], name: str) -> Any:
        return lambda data=None: inbox.put((name, data))

    def _next(self, wanted: set[str]) -> tuple[str, Any]:
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event[0] in wanted:
                return event
        raise TurnFailed(f"no {wanted} within {TURN_TIMEOUT_S:.0f} s")

    def turn(self, text: str) -> str:
        if not self.session_id:
            self.connect()  # the last connect failed: this is a new conversation
            if not self.session_id:
                raise TurnFailed("could not connect")
        elif not self.sio.connected:  # the gateway went away: reconnect to the same conversation
            self.sio.connect(GATEWAY, transports=["websocket"], wait_timeout=20)
            self.sio.emit("session_request", {"session_id": self.session_id})
            self._next({"session_confirm"})
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id, "metadata": {}})
        replies = []
        while True:
            name, data = self._next({"bot_uttered", "error", "turn_end"})
            if name == "bot_uttered":
                replies.append(str((data or {}).get("text") or ""))
            elif name == "error":
                raise TurnFailed(f"{data}")
            else:
                return "\n".join(replies)

    def restart(self) -> None:
        self.on_stop()
        self.connect()

    def on_stop(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


class RestShopper(Shopper):
    transport = "REST"
    weight = 1

    def on_start(self) -> None:
        self.sender = f"load-{uuid.uuid4().hex}"
        self.http = requests.Session()

    def turn(self, text: str) -> str:
        response = self.http.post(
            f"{RASA}/webhooks/rest/webhook", json={"sender": self.sender, "message": text}, timeout=TURN_TIMEOUT_S
        )
        response.raise_for_status()
        return "\n".join(str(r.get("text") or "") for r in response.json())

    def restart(self) -> None:
        self.sender = f"load-{uuid.uuid4().hex}"
