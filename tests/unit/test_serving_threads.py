"""Processes that serve turns run their models on one thread each unless the operator says otherwise
(under load a second thread per model waits for a core that another turn holds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.launcher import Services


def test_rasa_servers_get_tensorflow_on_one_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    env = Services(db=str(tmp_path / "shop.db")).env()
    assert env["TF_NUM_INTRAOP_THREADS"] == "1"
    assert env["TF_NUM_INTEROP_THREADS"] == "1"


def test_an_operator_can_give_tensorflow_more_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "4")
    assert Services(db=str(tmp_path / "shop.db")).env()["TF_NUM_INTRAOP_THREADS"] == "4"
