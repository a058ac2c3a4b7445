"""Driving Debian's Chromium with Playwright: what the browser tests share (the widget, the agent inbox)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from bot.launcher import Services
from voice.audio import SAMPLE_RATE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# offline machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Any, tmp_path: Path, *extra: str) -> Any:
    return playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, *extra],
        viewport={"width": 1280, "height": 800},
    )


def launch_with_microphone(playwright: Any, tmp_path: Path, samples: np.ndarray, *extra: str) -> Any:
    """Chromium whose (fake) microphone plays ``samples`` (16 kHz) once, from when a page opens it."""
    wav = tmp_path / "fake-mic.wav"
    sf.write(wav, samples, SAMPLE_RATE, subtype="PCM_16")
    return launch(
        playwright,
        tmp_path,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        *extra,
    )


def wait_ready(page: Any) -> None:
    """Until the widget has its socket.io session."""
    page.wait_for_function("window.Shopkeeper && window.Shopkeeper.metrics.readyAt !== null", timeout=15000)


def open_widget(page: Any, services: Services, path: str = "/demo") -> float:
    """Load a page with the widget, wait for its session, open it; returns load time in ms."""
    page.goto(services.gateway_url + path)
    wait_ready(page)
    ready_ms = page.evaluate("window.Shopkeeper.metrics.readyAt")
    if path == "/demo" and page.locator(".sk-panel").is_hidden():
        page.locator(".sk-launcher").click()
    return float(ready_ms)


def say(page: Any, text: str) -> None:
    page.locator(".sk-input").fill(text)
    page.locator(".sk-input").press("Enter")


def wait_turn(page: Any, bot_messages_before: int, timeout: int = 60000) -> None:
    page.wait_for_function(
        "n => { const root = document.querySelector('#shopkeeper-widget').shadowRoot;"
        " return root.querySelectorAll('.sk-bot').length > n && root.querySelector('.sk-typing').hidden; }",
        arg=bot_messages_before,
        timeout=timeout,
    )


def bot_count(page: Any) -> int:
    return page.locator(".sk-bot").count()
