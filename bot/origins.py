"""Which web pages may talk to the gateway from a browser: its own pages, and the origins a shop lists.

Browsers send ``Origin`` with socket.io and cross-site requests; a page elsewhere (anyone's site a
shopper or the shop owner visits) is refused unless its origin is in ``SHOPKEEPER_ALLOWED_ORIGINS``.
Clients that are not browsers send no ``Origin`` and are not affected (the voice client, curl).
"""

from __future__ import annotations

from typing import Any

WEB_SCHEMES = {"ws": "http", "wss": "https"}


class OriginPolicy:
    def __init__(self, allowed: tuple[str, ...] | list[str] = ()) -> None:
        self.allowed = {origin.rstrip("/").lower() for origin in allowed}

    def allows(self, origin: str | None, own_origin: str | None) -> bool:
        if not origin:
            return True
        origin = origin.rstrip("/").lower()
        return origin in self.allowed or (own_origin is not None and origin == own_origin.lower())

    def for_socketio(self, origin: str | None, environ: dict[str, Any]) -> bool:
        """python-engineio's ``cors_allowed_origins`` callable: this server's own origin, or a listed one."""
        host = environ.get("HTTP_HOST")
        scheme = str(environ.get("wsgi.url_scheme") or "http")
        own = f"{WEB_SCHEMES.get(scheme, scheme)}://{host}" if host else None
        return self.allows(origin, own)
