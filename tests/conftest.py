"""Shared fixtures: a real demo shop database built once, copied per test that writes to it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.db import build_demo_database
from catalog.search import LexicalSearch
from catalog.store import Store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_database(tmp_path_factory.mktemp("shop") / "demo.db", progress=False)


@pytest.fixture()
def shop_db(demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the demo shop, also used by the actions (via $SHOPKEEPER_DB)."""
    from actions.common import reset_shop_connection

    path = tmp_path / "shop.db"
    shutil.copy(demo_db, path)
    monkeypatch.setenv("SHOPKEEPER_DB", str(path))
    reset_shop_connection()
    yield path
    reset_shop_connection()


@pytest.fixture()
def store(shop_db: Path) -> Iterator[Store]:
    s = Store(shop_db)
    yield s
    s.close()


@pytest.fixture(scope="session")
def searcher(demo_db: Path) -> LexicalSearch:
    return LexicalSearch(Store(demo_db))
