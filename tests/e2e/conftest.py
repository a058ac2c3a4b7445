"""Fixtures of the browser tests: one Playwright per module, a fresh Chromium profile per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import launch


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture()
def browser(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    context = launch(playwright, tmp_path)
    yield context
    context.close()
