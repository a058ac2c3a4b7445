"""The house rules of DESIGN.md: data flows one way, so a folder never imports from its callers, and
code outside the catalogue uses only its public face (``catalog/__init__.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import catalog

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"actions", "benchmarks", "bot", "catalog", "language", "nlu", "voice"}
# folder -> top-level packages it must never import
FORBIDDEN = {
    "language": PROJECT - {"language"} | {"rasa", "rasa_sdk"},
    "catalog": {"rasa", "rasa_sdk", "actions", "nlu", "voice", "bot", "benchmarks"},
    "voice": {"rasa", "rasa_sdk", "actions", "nlu", "bot", "benchmarks"},
    "actions": {"bot", "voice", "nlu", "benchmarks"},
    "nlu": {"bot", "voice", "actions", "benchmarks"},
    "bot": {"actions", "nlu", "benchmarks"},
}
# What the catalogue offers the rest of the project; a change here is a change of its public API.
CATALOG_API = {
    "CatalogSettings",
    "Customer",
    "Order",
    "OrderLine",
    "Product",
    "ReturnRequest",
    "Store",
    "StoreError",
    "load_policies",
    "money",
    "Records",
    "migrate",
    "records_url",
    "CODE_DIGITS",
    "OWNER",
    "STATUS",
    "CodeCheck",
    "Identity",
    "Mailer",
    "OutboxMailer",
    "SmtpMailer",
    "DEMO_EMAIL",
    "CatalogueFormatError",
    "build_demo_database",
    "create_product_database",
    "db_path",
    "import_catalogue",
    "CATEGORY_SYNONYMS",
    "STOP_WORDS",
    "HybridSearch",
    "LexicalSearch",
    "ProductVectors",
    "SearchHit",
    "SearchQuery",
    "SearchResponse",
    "TextEncoder",
    "Vocabulary",
    "clean_text",
    "product_text",
    "shop_corrector",
    "NEW_DAYS",
    "Interests",
    "Recommendation",
    "Recommender",
    "ALSO_BOUGHT",
    "BOUGHT_TOGETHER",
    "SIMILAR",
    "ItemGraph",
    "Personalised",
    "Popularity",
    "Purchase",
    "Weights",
    "profile_from_history",
}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def imported_packages(path: Path) -> set[str]:
    return {module.split(".")[0] for module, _ in imports(path)}


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_follow_the_data_flow(folder: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[folder])
        for path in (ROOT / folder).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_code_outside_the_catalogue_uses_only_its_public_api() -> None:
    offenders = []
    for folder in sorted(PROJECT - {"catalog"}):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module, names in imports(path):
                if module.startswith("catalog.") or (module == "catalog" and set(names) - CATALOG_API):
                    offenders.append(f"{path.relative_to(ROOT)}: {module} {names}")
    assert offenders == []


def test_the_catalogue_api_is_pinned_and_importable() -> None:
    assert set(catalog.__all__) == CATALOG_API
    assert len(catalog.__all__) == len(CATALOG_API), "no name listed twice"
    assert all(hasattr(catalog, name) for name in catalog.__all__)
