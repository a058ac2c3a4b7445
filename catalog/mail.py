"""Sending e-mail to shoppers: one-time codes today. Pluggable, so a shop chooses how mail leaves.

- ``SmtpMailer`` when the shop configures a server (``SHOPKEEPER_SMTP_URL``);
- ``OutboxMailer`` otherwise: messages go to the ``outbox`` table of the shop database, where the
  demo's shop owner (``python -m catalog outbox``, or ``/demo/outbox`` on the gateway from this
  machine) and the tests read them. Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import sqlite3
import ssl
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from catalog.settings import CatalogSettings


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class OutboxMailer:
    """Keeps messages in the shop database instead of sending them (the demo, the tests)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def send(self, to: str, subject: str, body: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO outbox (to_address, subject, body, created_at) VALUES (?,?,?,?)",
                (to, subject, body, dt.datetime.now().isoformat(timespec="seconds")),
            )


def read_outbox(conn: sqlite3.Connection, to: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest messages first, for one address or all."""
    where, args = ("WHERE to_address = ? COLLATE NOCASE", (to,)) if to else ("", ())
    rows = conn.execute(
        f"SELECT id, to_address, subject, body, created_at FROM outbox {where} ORDER BY id DESC LIMIT ?",
        (*args, limit),
    )
    return [dict(r) for r in rows]


class SmtpMailer:
    """Sends through the shop's server: smtp://host:25, smtp+starttls://user:pw@host:587, smtps://...:465."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtp+starttls", "smtps") or not parts.hostname:
            raise ValueError(f"SHOPKEEPER_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host, not {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        self.user = unquote(parts.username or "")
        self.password = unquote(parts.password or "")
        self.sender = sender
        self.timeout = timeout

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with server:
            if self.scheme == "smtp+starttls":
                server.starttls(context=context)
            if self.user:
                server.login(self.user, self.password)
            server.send_message(message)


def mailer_for(conn: sqlite3.Connection, settings: CatalogSettings | None = None) -> Mailer:
    """SMTP when the shop configured a server, else the local outbox."""
    settings = settings or CatalogSettings.from_env()
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(conn)
