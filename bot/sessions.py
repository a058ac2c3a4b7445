"""Conversation (session) ids the gateway issues and signs, so a guessed or forged id is refused.

An id is ``<32 random hex>.<HMAC-SHA256 of it, 32 hex>``. A client that asks to continue a session
must present an id this gateway (or one sharing its secret) issued; anything else gets a new one.
The secret comes from SHOPKEEPER_SESSION_SECRET (give every gateway of one shop the same), else it
is generated once into ``var/session_secret`` (git-ignored, readable by its owner only).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_FILE = Path(__file__).resolve().parent.parent / "var" / "session_secret"


def load_secret(configured: str = "", path: Path = SECRET_FILE) -> bytes:
    """The configured secret, else the one in ``path`` (made on first use)."""
    if configured:
        return configured.encode()
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    # Created private from the start (not chmod afterwards): nobody else ever sees it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secret)
    return secret


class SessionIds:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 characters")
        self._secret = secret

    def _signature(self, token: str) -> str:
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        token = secrets.token_hex(16)
        return f"{token}.{self._signature(token)}"

    def valid(self, session_id: object) -> bool:
        if not isinstance(session_id, str) or len(session_id) != 65 or session_id[32] != ".":
            return False
        token, signature = session_id[:32], session_id[33:]
        return hmac.compare_digest(signature, self._signature(token))

    def continue_or_issue(self, requested: object) -> str:
        """The requested id when this gateway signed it, else a new one."""
        return requested if isinstance(requested, str) and self.valid(requested) else self.issue()
