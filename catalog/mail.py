"""Sending e-mail to shoppers: one-time codes today. Pluggable, so a shop chooses how mail leaves.

- ``SmtpMailer`` when the shop configures a server (``SHOPKEEPER_SMTP_URL``);
- ``OutboxMailer`` otherwise: messages go to the ``outbox`` table of the shop's records, where the
  demo's shop owner (``python -m catalog outbox``, or ``/demo/outbox`` on the gateway from this
  machine) and the tests read them. Nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import insert, select

from catalog.records import Records, outbox, same_email
from catalog.settings import CatalogSettings


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class OutboxMailer:
    """Keeps messages in the shop's records instead of sending them (the demo, the tests)."""

    def __init__(self, shop: Records) -> None:
        self.shop = shop

    def send(self, to: str, subject: str, body: str) -> None:
        now = dt.datetime.now().isoformat(timespec="seconds")
        with self.shop.begin() as conn:
            conn.execute(insert(outbox).values(to_address=to, subject=subject, body=body, created_at=now))


def read_outbox(shop: Records, to: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest messages first, for one address or all."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if to:
        query = query.where(same_email(outbox.c.to_address, to))
    with shop.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


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


def mailer_for(shop: Records, settings: CatalogSettings | None = None) -> Mailer:
    """SMTP when the shop configured a server, else the local outbox."""
    settings = settings or CatalogSettings.from_env()
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url, settings.mail_from)
    return OutboxMailer(shop)
