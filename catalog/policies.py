"""The shop's policies, read from YAML so a shop owner can change them without code."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import yaml

from catalog.settings import CatalogSettings


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def load_policies(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Policies from ``path``, else $SHOPKEEPER_POLICIES, else the demo shop's file."""
    return _load(str(path or CatalogSettings.from_env().policies))


def money(amount: float, policies: dict[str, Any] | None = None) -> str:
    symbol = (policies or load_policies()).get("currency_symbol", "$")
    return f"{symbol}{amount:,.2f}"
