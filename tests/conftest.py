"""Shared fixtures: a real demo shop database built once, copied per test that writes to it; the real
servers, TTS voices and speech model for the end-to-end tests.

``tests/unit`` runs in-process without servers, a trained bot, apt or npm (``make check``; the
``slow`` ones load or fine-tune a model); ``tests/e2e`` (marked ``e2e``) needs what ``make test``
prepares first."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.launcher import Services, free_port
from catalog.db import build_demo_database
from catalog.search.lexical import LexicalSearch
from catalog.store import Store
from voice.asr import Recognizer

ROOT = Path(__file__).resolve().parent.parent


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI every test runs: a skipped test (a missing tool, model or data set) fails the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if under_ci() and skipped and exitstatus == pytest.ExitCode.OK:
        if reporter is not None:
            reporter.write_line(
                f"CI=true: {skipped} test(s) skipped; under CI a skip is a failure (see -rs above)", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is marked ``e2e`` (real servers, speech model, browser or TTS)."""
    for item in items:
        if Path(item.path).resolve().relative_to(ROOT / "tests").parts[0] == "e2e":
            item.add_marker(pytest.mark.e2e)


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


@pytest.fixture(scope="session")
def embed_site_port() -> int:
    """The port of the "other shop's site" page that embeds the widget (tests/e2e/test_widget.py):
    the shared gateway lists its origin in SHOPKEEPER_ALLOWED_ORIGINS, as a shop would."""
    return free_port()


# The whole suite is one client address sending thousands of turns (the fuzz suites among them), so
# the shared gateway's per-client limits are raised; tests/e2e/test_trust.py checks the shipped
# defaults on a gateway of its own.
SUITE_LIMITS = {
    "SHOPKEEPER_SESSION_MESSAGES_PER_MIN": "100000",
    "SHOPKEEPER_CLIENT_MESSAGES_PER_MIN": "100000",
    "SHOPKEEPER_SESSION_AUDIO_S_PER_MIN": "100000",
    "SHOPKEEPER_CLIENT_AUDIO_S_PER_MIN": "100000",
}


@pytest.fixture(scope="session")
def services(demo_db: Path, tmp_path_factory: pytest.TempPathFactory, embed_site_port: int) -> Iterator[Services]:
    """The real action server, Rasa server and gateway (speech included), started as `make run`
    starts them, on free ports, over a private copy of the demo shop; shared by the end-to-end tests."""
    db = tmp_path_factory.mktemp("e2e") / "shop.db"
    db.write_bytes(demo_db.read_bytes())
    # Rasa's HTTP API is off unless given a token; the tests read trackers and parses with one.
    token = secrets.token_hex(16)
    settings = {**SUITE_LIMITS, "SHOPKEEPER_ALLOWED_ORIGINS": f"http://127.0.0.1:{embed_site_port}"}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)  # the launcher passes its environment to the processes it starts
    try:
        with Services(
            actions_port=free_port(), rasa_port=free_port(), gateway_port=free_port(), db=str(db), rasa_token=token
        ) as running:
            running.start()
            yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert not running.processes, "every started process is stopped"


@pytest.fixture(scope="session")
def speak(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """speak(text, voice="slt") -> Path of a WAV file spoken by a flite voice (made once per text)."""
    from voice.speech_set import Voice, synthesize

    if shutil.which("flite") is None:
        pytest.skip("flite is not installed (apt-get install flite); .ci/run installs it")
    folder = tmp_path_factory.mktemp("speech")

    def make(text: str, voice: str = "slt") -> Path:
        name = f"{voice}-{abs(hash(text)) % 10**10}.wav"
        return synthesize(text, Voice(f"flite-{voice}", "flite", voice, natural=True), folder / name)

    return make


@pytest.fixture(scope="session")
def recognizer() -> Recognizer:
    """The fast speech model (Whisper tiny.en through SpeechBrain), prepared and loaded once."""
    return Recognizer("tiny.en", threads=2)
