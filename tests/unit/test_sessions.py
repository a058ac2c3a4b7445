"""Session ids are issued and signed by the gateway; a guessed or forged one starts a new conversation."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from bot.sessions import SessionIds, load_secret


def test_an_issued_id_continues_and_anything_else_is_replaced() -> None:
    ids = SessionIds(b"s" * 32)
    issued = ids.issue()
    assert ids.valid(issued) and ids.continue_or_issue(issued) == issued
    forged = issued[:33] + ("0" if issued[33] != "0" else "1") + issued[34:]
    for other in [forged, "alex", "", None, 42, issued + "x", "a" * 32 + "." + "b" * 32]:
        assert not ids.valid(other)
        replacement = ids.continue_or_issue(other)
        assert replacement != other and ids.valid(replacement)
    assert ids.issue() != issued, "ids are random"


def test_another_secret_does_not_accept_the_id() -> None:
    issued = SessionIds(b"one secret, long enough").issue()
    assert not SessionIds(b"another secret, as long").valid(issued)
    with pytest.raises(ValueError):
        SessionIds(b"short")


def test_the_secret_is_configured_or_made_once_privately(tmp_path: Path) -> None:
    assert load_secret("from the environment", tmp_path / "unused") == b"from the environment"
    assert not (tmp_path / "unused").exists()
    path = tmp_path / "var" / "session_secret"
    made = load_secret("", path)
    assert len(made) == 64 and load_secret("", path) == made, "made once, then reused"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
