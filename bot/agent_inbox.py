"""The agent inbox: the shop's staff answer the conversations the bot handed over.

``GET /agent`` is the page; its API (``/agent/api/...``) needs ``Authorization: Bearer <token>``
(``SHOPKEEPER_AGENT_TOKEN``; the inbox is off without one) and the agent's name in ``X-Agent``.

- A handoff (``action_handoff``) writes a waiting ticket to the shop's records with the bot's summary.
- An agent takes it: the ticket is theirs (first come), Rasa pauses the conversation (its ``pause``
  event: the shopper's messages are kept but the bot predicts nothing), and the shopper is told.
- The agent's messages go into the conversation's tracker as bot events marked ``from: agent`` and
  to the shopper's socket.io room (every gateway's, through Redis in a cluster) as ``bot_uttered``.
- Handing back closes the ticket and resumes the conversation (``resume``): the bot answers again.

The transcript is read from Rasa's tracker, so the inbox works the same behind any gateway.
Whether any agent is online is the records' ``agents_online``: each poll of the inbox says so.
"""

from __future__ import annotations

import hmac
import re
import time
from pathlib import Path
from typing import Any

import httpx
import socketio
from fastapi import Body, FastAPI, Header, HTTPException, Request
from fastapi.responses import FileResponse

from bot.rasa_client import RasaClient
from catalog import Store

STATIC = Path(__file__).resolve().parent / "static"
AGENT_NAME = re.compile(r"^[\w .'-]{1,40}$")
MAX_AGENT_MESSAGE = 2000
OPEN = ("waiting", "taken")
MAX_FAILURES, FAILURE_WINDOW_S = 10, 60.0  # wrong tokens per client address per minute


def transcript(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as the shopper saw it: who said what, when."""
    lines = []
    for event in events:
        kind, text = event.get("event"), event.get("text")
        if kind == "user" and text:
            lines.append({"from": "shopper", "text": text, "at": event.get("timestamp")})
        elif kind == "bot" and text:
            meta = event.get("metadata") or {}
            who = "agent" if meta.get("from") == "agent" else "bot"
            lines.append({"from": who, "agent": meta.get("agent"), "text": text, "at": event.get("timestamp")})
        elif kind in ("pause", "resume"):
            lines.append({"from": "system", "text": f"conversation {kind}d", "at": event.get("timestamp")})
    return lines


def ticket_view(ticket: dict[str, Any]) -> dict[str, Any]:
    summary = ticket["summary"]
    turns = summary.get("last_turns") or []
    return {
        "id": ticket["id"],
        "status": ticket["status"],
        "agent": ticket["agent"],
        "created_at": ticket["created_at"],
        "reason": ticket["reason"],
        "customer_id": ticket["customer_id"],
        "order_id": summary.get("order_id"),
        "cart": summary.get("cart") or [],
        "last_search": summary.get("last_search"),
        "last_message": next((t["text"] for t in reversed(turns) if t["from"] == "shopper"), ""),
    }


class AgentInbox:
    def __init__(self, sio: socketio.AsyncServer, rasa: RasaClient, db: Path | None, token: str) -> None:
        self.sio, self.rasa, self.db, self.token = sio, rasa, db, token
        self._store: Store | None = None
        self.failures: dict[str, list[float]] = {}  # client address -> times of wrong tokens

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.db)
        return self._store

    def held_by_agent(self, session: str) -> str | None:
        """The agent holding this conversation (the bot is paused there), if any; None when the inbox is off."""
        return self.store.held_by_agent(session) if self.token else None

    def agent(self, authorization: str | None, name: str | None, client: str = "") -> str:
        """The agent's name once the token checks out; 503 when the inbox is off, 401 for a wrong token,
        429 after too many wrong tokens from one address (a token a shop chose may be guessable)."""
        if not self.token:
            raise HTTPException(503, "The agent inbox is off: the shop has not set SHOPKEEPER_AGENT_TOKEN.")
        now = time.monotonic()
        if len(self.failures) > 1000:  # addresses that stopped guessing are forgotten, so memory stays bounded
            self.failures = {k: v for k, v in self.failures.items() if now - v[-1] < FAILURE_WINDOW_S}
        recent = [t for t in self.failures.pop(client, []) if now - t < FAILURE_WINDOW_S]
        if recent:
            self.failures[client] = recent
        if len(recent) >= MAX_FAILURES:
            raise HTTPException(429, "Too many wrong tokens from this address; wait a minute.")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            self.failures[client] = [*recent, now]
            raise HTTPException(401, "Wrong or missing agent token.")
        name = (name or "").strip()
        if not AGENT_NAME.match(name):
            raise HTTPException(400, "Give your name (letters, digits, spaces; at most 40 characters) in X-Agent.")
        self.store.agent_seen(name)
        return name

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        found = self.store.handoff(ticket_id)
        if found is None:
            raise HTTPException(404, f"There is no ticket #{ticket_id}.")
        return found

    async def tell_shopper(self, session: str, text: str, agent: str | None = None) -> None:
        """Words for the shopper (an agent's, or the shop's own notice without ``agent``): into the
        conversation's tracker, and live to the shopper's widget."""
        meta = {"from": "agent", "agent": agent} if agent else {}
        event = {"event": "bot", "text": text, "timestamp": time.time(), "metadata": meta}
        await self.rasa_events(session, [event])
        await self.sio.emit("bot_uttered", {"text": text, **meta}, room=session)

    async def rasa_events(self, session: str, events: list[dict[str, Any]]) -> None:
        """Append to the conversation in Rasa; 502 when Rasa does not answer."""
        try:
            await self.rasa.add_events(session, events)
        except (httpx.HTTPError, RuntimeError) as exc:
            raise unreachable(exc) from exc

    async def conversation(self, session: str) -> list[dict[str, Any]]:
        """The conversation's events from Rasa; 502 when Rasa does not answer."""
        try:
            return await self.rasa.events(session)
        except (httpx.HTTPError, RuntimeError) as exc:
            raise unreachable(exc) from exc


def unreachable(exc: Exception) -> HTTPException:
    return HTTPException(502, f"The bot's conversation store did not answer: {exc}")


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def add_agent_routes(app: FastAPI, inbox: AgentInbox) -> None:
    @app.get("/agent", include_in_schema=False)
    async def agent_page() -> FileResponse:
        return FileResponse(STATIC / "agent.html", headers={"Cache-Control": "no-store"})

    @app.get("/agent/api/tickets", summary="Open tickets (waiting or taken) and the agents online")
    async def tickets(
        request: Request, authorization: str | None = Header(None), x_agent: str | None = Header(None)
    ) -> dict[str, Any]:
        inbox.agent(authorization, x_agent, client_of(request))
        return {
            "agents_online": inbox.store.agents_online(),
            "tickets": [ticket_view(t) for t in inbox.store.handoffs(*OPEN)],
        }

    @app.get("/agent/api/tickets/{ticket_id}", summary="One ticket with the bot's summary and the transcript")
    async def ticket(
        ticket_id: int, request: Request, authorization: str | None = Header(None), x_agent: str | None = Header(None)
    ) -> dict[str, Any]:
        inbox.agent(authorization, x_agent, client_of(request))
        found = inbox.ticket(ticket_id)
        return {**ticket_view(found), "transcript": transcript(await inbox.conversation(found["session_id"]))}

    @app.post("/agent/api/tickets/{ticket_id}/take", summary="Take the conversation over; the bot goes quiet")
    async def take(
        ticket_id: int, request: Request, authorization: str | None = Header(None), x_agent: str | None = Header(None)
    ) -> dict[str, Any]:
        agent = inbox.agent(authorization, x_agent, client_of(request))
        found = inbox.ticket(ticket_id)
        if not inbox.store.take_handoff(ticket_id, agent):
            raise HTTPException(409, f"Ticket #{ticket_id} is {found['status']} by {found['agent'] or 'nobody'}.")
        session = found["session_id"]
        try:
            await inbox.rasa_events(session, [{"event": "pause", "timestamp": time.time()}])
        except HTTPException:
            inbox.store.untake_handoff(ticket_id, agent)  # the bot still answers there: the ticket waits
            raise
        hello = f"Hello, this is {agent} from the shop team. I've read our conversation so far; how can I help?"
        await inbox.tell_shopper(session, hello, agent)
        return ticket_view(inbox.ticket(ticket_id))

    @app.post("/agent/api/tickets/{ticket_id}/messages", summary="Say something to the shopper")
    async def message(
        ticket_id: int,
        request: Request,
        body: dict[str, Any] = Body(...),  # noqa: B008 - FastAPI's idiom
        authorization: str | None = Header(None),
        x_agent: str | None = Header(None),
    ) -> dict[str, str]:
        agent = inbox.agent(authorization, x_agent, client_of(request))
        found = inbox.ticket(ticket_id)
        if found["status"] != "taken" or found["agent"] != agent:
            raise HTTPException(409, f"Take ticket #{ticket_id} before writing to the shopper.")
        text = str(body.get("text") or "").strip()
        if not text or len(text) > MAX_AGENT_MESSAGE:
            raise HTTPException(400, f"A message has 1 to {MAX_AGENT_MESSAGE} characters.")
        await inbox.tell_shopper(found["session_id"], text, agent)
        return {"status": "sent"}

    @app.post("/agent/api/tickets/{ticket_id}/release", summary="Hand the conversation back to the bot")
    async def release(
        ticket_id: int, request: Request, authorization: str | None = Header(None), x_agent: str | None = Header(None)
    ) -> dict[str, Any]:
        agent = inbox.agent(authorization, x_agent, client_of(request))
        found = inbox.ticket(ticket_id)
        if not inbox.store.close_handoff(ticket_id, agent):
            raise HTTPException(409, f"Ticket #{ticket_id} is not yours to hand back.")
        session = found["session_id"]
        await inbox.rasa_events(session, [{"event": "resume", "timestamp": time.time()}])
        back = f'{agent} has left the chat; you\'re back with the shop assistant. Say "human" to reach the team again.'
        await inbox.tell_shopper(session, back)
        return ticket_view(inbox.ticket(ticket_id))
