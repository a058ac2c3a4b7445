"""The bot's own words, read from its NLU training data, for speech recognition to listen for.

A shop's catalogue names its brands and products (voice/vocabulary.py), but the NLU data names the
values of every entity the bot extracts: a café's drinks and milks, a pharmacy's medicines, a
bookshop's series. Those are the words a recogniser must get right for a command to be understood,
so they join the catalogue's in biasing and correction, whatever the domain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from language.numbers import NUMBER_WORDS

# "[text](entity)", "[text](entity:value)", '[text]{"entity": "e", "value": "v"}'
ENTITY = re.compile(r"\[([^\]]*)\](?:\(([^)]*)\)|(\{[^}]*\}))")
MIN_LETTERS = 3


def nlu_blocks(path: Path) -> Iterator[dict[str, Any]]:
    """Every block (intent, lookup, synonym, regex) of a Rasa NLU file or a folder of them."""
    files = sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    for file in files:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue  # not Rasa training data (an empty file, a list)
        for block in data.get("nlu") or []:
            if isinstance(block, dict) and isinstance(block.get("examples"), str):
                yield block


def listed(examples: str) -> Iterator[str]:
    """The items of a block's ``examples: |`` list."""
    for line in examples.splitlines():
        if line.lstrip().startswith("- "):
            yield line.lstrip()[2:].strip()


def _value(round_brackets: str | None, curly: str | None) -> str | None:
    if round_brackets and ":" in round_brackets:
        return round_brackets.split(":", 1)[1]
    if curly:
        try:
            value = json.loads(curly).get("value")
        except (ValueError, AttributeError):
            return None
        return str(value) if value is not None else None
    return None


def entity_words(path: Path) -> list[str]:
    """Entity values the NLU data names: annotated words and their values, lookup-table entries and
    synonyms. Numbers are left out (Whisper writes them as it likes; nlu/entity_values.py reads them)."""
    found: set[str] = set()
    for block in nlu_blocks(path):
        items = list(listed(block["examples"]))
        if "intent" in block:
            for item in items:
                for match in ENTITY.finditer(item):
                    found.add(match.group(1))
                    if (value := _value(match.group(2), match.group(3))) is not None:
                        found.add(value)
        elif "lookup" in block or "synonym" in block:
            found.update(items)
            if "synonym" in block:
                found.add(str(block["synonym"]))
    return sorted(w.strip() for w in found if sum(c.isalpha() for c in w) >= MIN_LETTERS and not _number(w))


def _number(text: str) -> bool:
    words = re.findall(r"[a-z]+|\d+", text.lower())
    return all(w.isdigit() or w in NUMBER_WORDS for w in words)
