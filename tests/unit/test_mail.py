"""The shop's mailers: a real SMTP conversation over a socket, and the local outbox."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.mail import OutboxMailer, SmtpMailer, mailer_for, read_outbox
from catalog.settings import CatalogSettings
from catalog.store import Store


class SmtpRecorder(socketserver.StreamRequestHandler):
    """Just enough of an SMTP server (RFC 5321, no extensions) to receive one message."""

    received: list[dict[str, str]] = []

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test ESMTP")
        envelope: dict[str, str] = {}
        while line := self.rfile.readline().decode():
            command = line.strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 test")
            elif command.startswith("MAIL FROM"):
                envelope["from"] = line.split(":", 1)[1].strip()
                self.reply("250 ok")
            elif command.startswith("RCPT TO"):
                envelope["to"] = line.split(":", 1)[1].strip()
                self.reply("250 ok")
            elif command == "DATA":
                self.reply("354 go on")
                body = []
                while (data := self.rfile.readline().decode()).rstrip("\r\n") != ".":
                    body.append(data)
                envelope["data"] = "".join(body)
                SmtpRecorder.received.append(envelope)
                self.reply("250 queued")
            elif command == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not here")


@pytest.fixture()
def smtp_server() -> Iterator[int]:
    SmtpRecorder.received = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_codes_go_through_the_shops_smtp_server(smtp_server: int, shop_db: Path, store: Store) -> None:
    settings = CatalogSettings(smtp_url=f"smtp://127.0.0.1:{smtp_server}", mail_from="Shop <shop@example.com>")
    mailer = mailer_for(store.records, settings)
    assert isinstance(mailer, SmtpMailer)
    mailer.send("alex.morgan@example.com", "Your verification code", "Your code is 123456.")
    (sent,) = SmtpRecorder.received
    assert sent["to"] == "<alex.morgan@example.com>" and sent["from"] == "<shop@example.com>"
    assert "Subject: Your verification code" in sent["data"] and "123456" in sent["data"]
    assert read_outbox(store.records) == [], "nothing kept locally when mail is sent"


def test_without_a_server_mail_stays_in_the_outbox(shop_db: Path, store: Store) -> None:
    mailer = mailer_for(store.records, CatalogSettings())
    assert isinstance(mailer, OutboxMailer)
    mailer.send("a@example.com", "s", "b")
    assert [m["to_address"] for m in read_outbox(store.records)] == ["a@example.com"]


def test_a_bad_smtp_url_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="SHOPKEEPER_SMTP_URL"):
        SmtpMailer("http://mail.example.com", "shop@example.com")
    secure = SmtpMailer("smtp+starttls://user%40shop:p%40ss@mail.example.com", "shop@example.com")
    assert (secure.port, secure.user, secure.password) == (587, "user@shop", "p@ss")
