"""The demo outbox (one-time codes) over HTTP: this machine only, and never when mail goes by SMTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.http_routes import add_outbox_route
from catalog.demo.orders import DEMO_EMAIL
from catalog.store import Store


def app_for(db: Path) -> FastAPI:
    app = FastAPI()
    add_outbox_route(app, db)
    return app


def test_the_shop_owner_reads_codes_from_this_machine(shop_db: Path, store: Store) -> None:
    assert store.identity.send_code("c1", DEMO_EMAIL)
    local = TestClient(app_for(shop_db), client=("127.0.0.1", 40000))
    mail = local.get("/demo/outbox", params={"to": DEMO_EMAIL}).json()
    assert len(mail) == 1 and mail[0]["to_address"] == DEMO_EMAIL and "code" in mail[0]["body"]


def test_anyone_else_is_refused(shop_db: Path, store: Store) -> None:
    store.identity.send_code("c1", DEMO_EMAIL)
    remote = TestClient(app_for(shop_db), client=("203.0.113.9", 40000))
    response = remote.get("/demo/outbox")
    assert response.status_code == 403 and "code" not in response.text.replace("status_code", "")


def test_no_outbox_when_mail_goes_by_smtp(shop_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPKEEPER_SMTP_URL", "smtp://127.0.0.1:1")
    local = TestClient(app_for(shop_db), client=("127.0.0.1", 40000))
    assert local.get("/demo/outbox").status_code == 404
