"""The gateway's HTTP client for Rasa's REST webhook and the health checks of the other processes."""

from __future__ import annotations

from typing import Any

import httpx


class RasaClient:
    """One pooled HTTP client; ``open`` when the app starts, ``close`` when it stops."""

    def __init__(self, rasa_url: str, actions_url: str, timeout_s: float) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.actions_url = actions_url.rstrip("/")
        self.timeout_s = timeout_s
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
        """One user turn through the REST webhook; Rasa's replies in order. Raises ``httpx.HTTPError``
        or ``ValueError`` when Rasa cannot be reached or answers nonsense."""
        response = await self.http.post(
            f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text, "metadata": metadata}
        )
        response.raise_for_status()
        return list(response.json() or [])

    async def _reachable(self, url: str) -> bool:
        try:
            return (await self.http.get(url, timeout=3)).status_code == 200
        except httpx.HTTPError:
            return False

    async def rasa_ready(self) -> bool:
        return await self._reachable(f"{self.rasa_url}/")  # Rasa's hello; its HTTP API is off by default

    async def actions_ready(self) -> bool:
        return await self._reachable(f"{self.actions_url}/health")
