"""The catalogue's settings: which shop database, which policies, where embeddings are cached.

Read from the environment when they are needed (``CatalogSettings.from_env()``), not at import, so
a value set after start-up (a test, a launcher) is honoured. Every variable is listed in the
README's settings table; ``tests/unit/test_settings.py`` fails when code reads one the table lacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DEFAULT_DB = PACKAGE / "shop.db"
DEFAULT_POLICIES = PACKAGE / "demo" / "policies.yml"
DEFAULT_CACHE = PACKAGE.parent / "models" / "cache"
DEFAULT_MAIL_FROM = "Shopkeeper <no-reply@localhost>"


@dataclass(frozen=True)
class CatalogSettings:
    db: Path = DEFAULT_DB  # SHOPKEEPER_DB: the shop's SQLite file (the product index, and the records by default)
    records_url: str = ""  # SHOPKEEPER_RECORDS_URL: customers, orders... elsewhere (postgresql://...)
    policies: Path = DEFAULT_POLICIES  # SHOPKEEPER_POLICIES: returns, delivery, payment... (YAML)
    cache_dir: Path = DEFAULT_CACHE  # SHOPKEEPER_CACHE: product vectors cached by content
    smtp_url: str = ""  # SHOPKEEPER_SMTP_URL: where codes are mailed; empty keeps them in the local outbox
    mail_from: str = DEFAULT_MAIL_FROM  # SHOPKEEPER_MAIL_FROM: the sender of the shop's e-mails

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CatalogSettings:
        env = os.environ if env is None else env
        return cls(
            db=Path(env.get("SHOPKEEPER_DB") or DEFAULT_DB),
            records_url=env.get("SHOPKEEPER_RECORDS_URL", ""),
            policies=Path(env.get("SHOPKEEPER_POLICIES") or DEFAULT_POLICIES),
            cache_dir=Path(env.get("SHOPKEEPER_CACHE") or DEFAULT_CACHE),
            smtp_url=env.get("SHOPKEEPER_SMTP_URL", ""),
            mail_from=env.get("SHOPKEEPER_MAIL_FROM") or DEFAULT_MAIL_FROM,
        )
