"""The gateway's HTTP client for Rasa's REST webhook and the health checks of the other processes.

Several Rasa servers sharing one tracker store and lock store (``SHOPKEEPER_RASA_URL`` with
comma-separated URLs) are one bot: each conversation goes to "its" replica, chosen by a hash of the
conversation id, so turns spread evenly; when that replica refuses the connection (it is down, so
the turn never started) the next one takes the turn. A turn already sent is never sent twice.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import httpx


def replica_order(sender: str, replicas: list[str]) -> list[str]:
    """The replicas in the order this conversation tries them: its own first, then the rest."""
    start = int.from_bytes(hashlib.blake2b(sender.encode(), digest_size=4).digest(), "big") % len(replicas)
    return replicas[start:] + replicas[:start]


class RasaClient:
    """One pooled HTTP client; ``open`` when the app starts, ``close`` when it stops."""

    def __init__(self, rasa_url: str, actions_url: str, timeout_s: float, api_token: str = "") -> None:
        self.replicas = [u.strip().rstrip("/") for u in rasa_url.split(",") if u.strip()]
        self.rasa_url = self.replicas[0]
        self.actions_url = actions_url.rstrip("/")
        self.timeout_s = timeout_s
        self.api_token = api_token  # Rasa's HTTP API (trackers); "" when it is off
        self._http: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._http = httpx.AsyncClient(timeout=self.timeout_s)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("RasaClient.open() was not called (the app's lifespan opens it)")
        return self._http

    async def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        """One user turn through the REST webhook; Rasa's replies in order, none when Rasa failed the
        turn. Raises ``httpx.HTTPError`` or ``ValueError`` when Rasa cannot be reached or answers nonsense."""
        body = {"sender": sender, "message": text, "metadata": metadata}
        order = replica_order(sender, self.replicas)
        for n, replica in enumerate(order):
            try:
                response = await self.http.post(f"{replica}/webhooks/rest/webhook", json=body)
            except httpx.ConnectError:
                if n == len(order) - 1:
                    raise
                continue  # refused: this replica never saw the turn, so another may take it
            if response.status_code == 500:
                return []  # Rasa failed the turn and withheld its replies (bot/rasa_rest_channel.py)
            response.raise_for_status()
            return list(response.json() or [])
        raise httpx.ConnectError("no Rasa server configured")

    # -- Rasa's HTTP API: a conversation's events (the agent inbox) ----------------------------
    async def _api(self, method: str, sender: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self.api_token:
            raise RuntimeError("Rasa's HTTP API is off (no SHOPKEEPER_RASA_TOKEN)")
        last: Exception | None = None
        for replica in replica_order(sender, self.replicas):  # any replica: they share the tracker store
            try:
                url = f"{replica}/conversations/{quote(sender, safe='')}/{path}"
                response = await self.http.request(method, url, params={"token": self.api_token}, **kwargs)
            except httpx.ConnectError as exc:
                last = exc
                continue
            response.raise_for_status()
            return response
        raise last or httpx.ConnectError("no Rasa server configured")

    async def events(self, sender: str) -> list[dict[str, Any]]:
        """Every event of the conversation, oldest first."""
        tracker = (await self._api("GET", sender, "tracker")).json()
        return list(tracker.get("events") or [])

    async def add_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        """Append events (``pause``, ``resume``, an agent's ``bot`` message) under the conversation's lock."""
        await self._api("POST", sender, "tracker/events", json=events)

    async def _reachable(self, url: str) -> bool:
        try:
            return (await self.http.get(url, timeout=3)).status_code == 200
        except httpx.HTTPError:
            return False

    async def rasa_ready(self) -> bool:
        """At least one Rasa server answers its hello (its HTTP API is off by default)."""
        for replica in self.replicas:
            if await self._reachable(f"{replica}/"):
                return True
        return False

    async def actions_ready(self) -> bool:
        return await self._reachable(f"{self.actions_url}/health")
