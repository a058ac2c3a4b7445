"""`rasa shell` driven like a person at a terminal, through `make shell`'s code path."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from bot.launcher import DEFAULT_MODEL, free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first")
PROMPT = "Your input ->"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_shell_conversation(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    db.write_bytes(demo_db.read_bytes())
    env = dict(
        os.environ,
        SHOPKEEPER_DB=str(db),
        SHOPKEEPER_ACTIONS_PORT=str(free_port()),
        SHOPKEEPER_RASA_PORT=str(free_port()),
        RASA_TELEMETRY_ENABLED="false",
        TERM="dumb",
    )
    shell = pexpect.spawn(
        sys.executable,
        ["-m", "bot.launcher", "shell"],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=240,
        dimensions=(60, 200),
    )
    transcript: list[str] = []

    def say(text: str, until: str) -> str:
        """Type a message; return the screen output up to ``until`` (a regex) and the next prompt."""
        shell.sendline(text)
        # The prompt is redrawn while typing, so wait for the reply itself first.
        shell.expect(until, timeout=90)
        reply = shell.before + shell.after
        shell.expect(PROMPT, timeout=60)
        reply = ANSI.sub("", reply + shell.before)
        transcript.append(f">>> {text}\n{reply}")
        return reply

    try:
        shell.expect(PROMPT)
        say("hello", "Shopkeeper")
        listing = say("show me hiking boots", "show more")
        names = re.findall(r"^\s*\d\. (.+?) - \$", listing, flags=re.M)
        assert len(names) >= 2, listing
        assert names[1] in say("tell me about the second one", "cart\\?")
        assert f"Added 1 x {names[1]}" in say("add it to my cart", "Total")
        cart = say("show my cart", "Total.*items?")
        assert names[1] in cart
        shell.sendline("/stop")
        shell.expect(pexpect.EOF, timeout=60)
    finally:
        (ROOT / "tests" / "artifacts").mkdir(exist_ok=True)
        (ROOT / "tests" / "artifacts" / "shell_transcript.txt").write_text("\n".join(transcript))
        if shell.isalive():
            shell.terminate(force=False)  # SIGHUP/SIGINT: the launcher stops its children
        if shell.isalive():
            shell.terminate(force=True)
