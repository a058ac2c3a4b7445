"""Asked for something the shop does not sell, does the search say so?

    python -m benchmarks.out_of_catalogue            # dev and test splits, and the false alarms

The requests (``benchmarks/data/out_of_catalogue.yml``) were written before any result was seen;
the rule (``catalog/search/hybrid.py``: ``closest_only``, ``ANSWERING_SIMILARITY``) was chosen on
the dev split and on the false alarms below; the test split is reported as it came.

An answer is honest when the search says it has nothing, or that its results are only the closest
things it has (``closest_only``), or when it dropped an inferred filter, says so, and its first
product holds every remaining word of the request. A false alarm is an answerable request (the
bot's own search examples on the demo shop; the judged queries and their variants on the imported
Retail Demo Store catalogue) answered "nothing" or "only the closest".
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import yaml

from benchmarks.common import DEMO_DB, RESULTS, ROOT, command, machine, shared_data, wilson, write_result
from catalog import HybridSearch, SearchResponse, Store, import_catalogue

REQUESTS = ROOT / "benchmarks" / "data" / "out_of_catalogue.yml"
JUDGED = ROOT / "benchmarks" / "data" / "search_judgments.yml"
SEARCH_EXAMPLES = ROOT / "data" / "nlu" / "shopping.yml"


def answer(search: HybridSearch, text: str) -> SearchResponse:
    query = search.parse(text)
    query.limit = 5
    return search.search(query)


def says_nothing(response: SearchResponse) -> bool:
    return response.closest_only or not response.hits


def honest(response: SearchResponse) -> bool:
    if says_nothing(response):
        return True
    if not response.relaxed:
        return False
    words = re.findall(r"\w+", response.query.text.lower())
    first = response.hits[0].product
    held = set(re.findall(r"\w+", f"{first.name} {first.product_type} {first.description}".lower()))
    return all(w in held or w.rstrip("s") in held for w in words)


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {k / n:.0%} (95% CI {low:.0%}-{high:.0%})"


def search_examples() -> list[str]:
    blocks = yaml.safe_load(SEARCH_EXAMPLES.read_text(encoding="utf-8"))["nlu"]
    lines = next(b["examples"] for b in blocks if b.get("intent") == "search_products").splitlines()
    return [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip().lstrip("- ")) for line in lines if line.strip()]


def judged_queries() -> list[str]:
    queries = yaml.safe_load(JUDGED.read_text(encoding="utf-8"))["queries"]
    return [text for q in queries for text in [q["query"], *q.get("variants", [])]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS / "out_of_catalogue.md")
    args = parser.parse_args(argv)
    requests = yaml.safe_load(REQUESTS.read_text(encoding="utf-8"))
    demo = HybridSearch(Store(DEMO_DB), progress=True)
    rows = ["| split | requests the demo shop does not sell | answered honestly |", "|---|---|---|"]
    missed: list[str] = []
    for split in ("dev", "test"):
        answers = {text: answer(demo, text) for text in requests[split]}
        good = sum(honest(a) for a in answers.values())
        rows.append(f"| {split} | {len(answers)} | {share(good, len(answers))} |")
        for text, response in answers.items():
            if not honest(response):
                missed.append(f'- {split}: "{text}" -> {[h.product.name for h in response.hits[:2]]}')

    examples = search_examples()
    alarms = [t for t in examples if says_nothing(answer(demo, t))]
    with tempfile.TemporaryDirectory() as tmp:
        db, _, _ = import_catalogue(shared_data("catalog", "retail_demo_store_products.yaml"), Path(tmp) / "r.db")
        retail = HybridSearch(Store(db), progress=True)
        judged = judged_queries()
        alarms_retail = [t for t in judged if says_nothing(answer(retail, t))]
    text = "\n".join(
        [
            "# Out of catalogue: does the search say when the shop has nothing?",
            "",
            f"`{command('benchmarks.out_of_catalogue')}` on {machine()}.",
            "",
            *rows,
            "",
            '| answerable requests | answered "nothing" or "only the closest" (false alarms) |',
            "|---|---|",
            f"| the bot's search examples, demo shop | {share(len(alarms), len(examples))} |",
            f"| judged queries and variants, Retail Demo Store | {share(len(alarms_retail), len(judged))} |",
            "",
            "Not answered honestly:",
            *missed,
            "",
            "False alarms: " + "; ".join(f'"{t}"' for t in alarms + alarms_retail),
        ]
    )
    write_result(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
