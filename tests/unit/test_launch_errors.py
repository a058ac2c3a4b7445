"""A wrong store setting stops the start with one message that names it, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backing_services import CLOSED_PORT

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {k: v for k, v in os.environ.items() if not k.startswith("SHOPKEEPER_")}
    settings.update(SHOPKEEPER_DB=str(tmp_path / "shop.db"), SHOPKEEPER_SESSION_SECRET="x" * 32, **env)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=settings, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("SHOPKEEPER_TRACKER_URL", f"postgresql://postgres:hunter2@127.0.0.1:{CLOSED_PORT}/test", "cannot connect"),
        ("SHOPKEEPER_TRACKER_URL", "mongodb://127.0.0.1/shop", "use sqlite:///file"),
        ("SHOPKEEPER_LOCK_URL", f"redis://127.0.0.1:{CLOSED_PORT}/1", "cannot connect"),
        ("SHOPKEEPER_EVENT_BROKER_URL", "amqp://guest:guest@127.0.0.1:9", "cannot connect"),
        ("SHOPKEEPER_RECORDS_URL", f"postgresql://postgres:hunter2@127.0.0.1:{CLOSED_PORT}/shop", "cannot open"),
        ("SHOPKEEPER_RECORDS_URL", "mysql://127.0.0.1/shop", "write postgresql://"),
    ],
)
def test_make_run_names_the_wrong_setting(tmp_path: Path, setting: str, value: str, says: str) -> None:
    done = _run(["-m", "bot.launcher", "run"], tmp_path, **{setting: value})
    out = done.stdout + done.stderr
    assert done.returncode == 1 and f"{setting}=" in out and says in out, out
    assert "Traceback" not in out and "hunter2" not in out
    assert "waiting for actions" not in out, "nothing was started"


def test_a_gateway_with_an_unreachable_rooms_redis_names_the_setting(tmp_path: Path) -> None:
    done = _run(
        ["-m", "bot.gateway", "--port", "0"],
        tmp_path,
        SHOPKEEPER_GATEWAY_REDIS_URL=f"redis://127.0.0.1:{CLOSED_PORT}/2",
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "SHOPKEEPER_GATEWAY_REDIS_URL=" in out and "Traceback" not in out, out


def test_a_cluster_without_its_redis_settings_says_which_are_missing(tmp_path: Path) -> None:
    done = _run(["-m", "bot.launcher", "cluster", "--replicas", "2"], tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "SHOPKEEPER_LOCK_URL and SHOPKEEPER_GATEWAY_REDIS_URL" in out, out
    assert "Traceback" not in out
