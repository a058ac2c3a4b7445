"""The house rule of DESIGN.md: data flows one way, so a folder never imports from its callers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> top-level packages it must never import
FORBIDDEN = {
    "catalog": {"rasa", "rasa_sdk", "actions", "nlu", "voice", "bot"},
    "voice": {"rasa", "rasa_sdk", "actions", "nlu", "bot"},
    "actions": {"bot", "voice", "nlu"},
    "nlu": {"bot", "voice", "actions"},
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_follow_the_data_flow(folder: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[folder])
        for path in (ROOT / folder).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}
