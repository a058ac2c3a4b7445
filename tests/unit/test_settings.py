"""Settings live in one module per layer, are read when needed, and are all documented in the README."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from bot.settings import BotSettings
from catalog.settings import CatalogSettings
from voice.audio import AudioError, from_pcm16
from voice.settings import VoiceSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("actions", "benchmarks", "bot", "catalog", "nlu", "voice")
# The only modules that read SHOPKEEPER_* variables from the environment.
READERS = {"catalog/settings.py", "voice/settings.py", "bot/settings.py", "benchmarks/common.py"}
VARIABLE = re.compile(r"SHOPKEEPER_[A-Z0-9_]+")


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(SHOPKEEPER_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))


def sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_every_variable_the_code_names_is_in_the_readme_table() -> None:
    named = {name for text in sources().values() for name in VARIABLE.findall(text)}
    assert named, "the scan found no settings at all"
    assert named - documented() == set()


def test_every_documented_variable_is_read_by_a_settings_module() -> None:
    read = {name for path, text in sources().items() if path in READERS for name in VARIABLE.findall(text)}
    assert documented() - read == set()


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines where os.environ / os.getenv is read with a SHOPKEEPER_* key."""
    lines = []
    for node in ast.walk(tree):
        call = node if isinstance(node, ast.Call) else None
        target = call.func if call else (node.value if isinstance(node, ast.Subscript) else None)
        text = ast.unparse(target) if target is not None else ""
        if not (text.startswith("os.environ") or text == "os.getenv"):
            continue
        keys = call.args[:1] if call else [node.slice]  # type: ignore[attr-defined]
        if any(isinstance(k, ast.Constant) and VARIABLE.fullmatch(str(k.value)) for k in keys):
            lines.append(node.lineno)  # type: ignore[attr-defined]
    return lines


def test_only_the_settings_modules_read_the_environment() -> None:
    readers = {
        path: lines
        for path, text in sources().items()
        if (lines := environment_reads(ast.parse(text))) and path not in READERS
    }
    # The benchmark sets (not reads) SHOPKEEPER_CACHE for the processes it starts.
    readers.pop("benchmarks/catalog.py", None)
    assert readers == {}


def test_defaults_without_environment() -> None:
    voice, bot, catalog = VoiceSettings.from_env({}), BotSettings.from_env({}), CatalogSettings.from_env({})
    assert (voice.asr_model, voice.window_s, voice.bias, voice.allow_hub) == ("base", 15.0, True, False)
    assert (bot.rasa_url, bot.actions_url) == ("http://127.0.0.1:5005", "http://127.0.0.1:5055")
    assert (bot.internal_host, bot.rasa_token) == ("127.0.0.1", ""), "internal services on loopback, API off"
    assert catalog.db == ROOT / "catalog" / "shop.db"


def test_values_come_from_the_environment_given() -> None:
    voice = VoiceSettings.from_env(
        {
            "SHOPKEEPER_ASR_BIAS": "0",
            "SHOPKEEPER_ASR_MODEL": "tiny.en",
            "SHOPKEEPER_MAX_AUDIO_S": "12",
            "SHOPKEEPER_ALLOW_HUB": "1",
        }
    )
    assert (voice.bias, voice.asr_model, voice.max_audio_s, voice.allow_hub) == (False, "tiny.en", 12.0, True)
    bot = BotSettings.from_env({"SHOPKEEPER_RASA_PORT": "6000", "SHOPKEEPER_ACTIONS_URL": "http://10.0.0.2:5055"})
    assert (bot.rasa_url, bot.actions_url) == ("http://127.0.0.1:6000", "http://10.0.0.2:5055")
    with pytest.raises(ValueError):
        VoiceSettings.from_env({"SHOPKEEPER_MAX_AUDIO_S": "long"})


def test_a_value_set_after_import_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    two_seconds = (np.sin(np.arange(32000) / 10) * 8000).astype("<i2").tobytes()
    assert from_pcm16(two_seconds).duration_s == pytest.approx(2.0)
    monkeypatch.setenv("SHOPKEEPER_MAX_AUDIO_S", "1")
    with pytest.raises(AudioError, match="limit is 1 s"):
        from_pcm16(two_seconds)
    monkeypatch.setenv("SHOPKEEPER_DB", str(tmp_path / "other.db"))
    from catalog.db import db_path

    assert db_path() == tmp_path / "other.db"
