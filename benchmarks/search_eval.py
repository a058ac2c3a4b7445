"""Search quality by kind of query, with intervals: BM25 alone, vectors alone and the shipped ranker.

    python -m benchmarks.search_eval --part dev     # look and choose here
    python -m benchmarks.search_eval --part test    # report once, after the choices are frozen

The queries are benchmarks/data/search_eval.yml (written before any result was seen; see its
header) and the older benchmarks/data/search_judgments.yml, split in two by position (even
entries dev, odd test). The older set steered earlier choices, so its test half is shown apart and
never mixed into the headline numbers. Every query runs against the Retail Demo Store catalogue
(../shared/data/catalog/) imported into a fresh shop, as `python -m catalog import` does. nDCG@10
is judged on the products' own text; a query the shop cannot answer scores whether the search says
so (no result, or only "the closest things"). Intervals: 95 % bootstrap over queries.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from benchmarks.catalog import RETAIL, grade, ndcg_at_10
from benchmarks.common import RESULTS, ROOT, command, machine, write_result
from catalog import HybridSearch, Product, ProductVectors, Store, TextEncoder, import_catalogue

NEW = ROOT / "benchmarks" / "data" / "search_eval.yml"
OLD = ROOT / "benchmarks" / "data" / "search_judgments.yml"
STYLES = ["plain", "attribute", "price", "spoken", "misspelled", "need"]
SYSTEMS = {"BM25 alone": "lexical", "vectors alone": "vector", "shipped (hybrid)": "hybrid"}
BOOTSTRAP = 2000


def judged(item: dict[str, Any], product: Product) -> int:
    """The product's grade for the query: its text against `kind`/`detail`, its price against the bounds."""
    if item.get("max_price") is not None and product.price > item["max_price"]:
        return 0
    if item.get("min_price") is not None and product.price < item["min_price"]:
        return 0
    return grade(product, item["kind"], item.get("detail"))


def queries(part: str) -> list[dict[str, Any]]:
    """The part's queries, each with `set` (new | older) and `style`."""
    items = [{**q, "set": "new"} for q in yaml.safe_load(NEW.read_text())[part]]
    older = yaml.safe_load(OLD.read_text())["queries"]
    for index, need in enumerate(older):
        if index % 2 != (0 if part == "dev" else 1):
            continue
        items.append({**need, "set": "older", "style": "older: clean"})
        items += [{**need, "query": v, "set": "older", "style": "older: variant"} for v in need.get("variants", [])]
    return items


def interval(values: list[float], rng: np.random.Generator) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    data = np.asarray(values, dtype=np.float64)
    means = data[rng.integers(0, len(data), (BOOTSTRAP, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run(part: str) -> tuple[list[dict[str, Any]], int]:
    items = queries(part)
    with tempfile.TemporaryDirectory() as tmp:
        db, count, _ = import_catalogue(RETAIL, Path(tmp) / "retail.db", progress=True)
        store = Store(db)
        encoder = TextEncoder()
        vectors = ProductVectors.for_store(store, encoder, progress=True)
        products = store.products(store.product_ids())
        ideals = [[judged(item, p) for p in products] if item["kind"] else [] for item in items]  # once per query
        for name, mode in SYSTEMS.items():
            search = (
                HybridSearch(store, encoder, vectors)
                if mode == "hybrid"
                else HybridSearch(store, encoder, vectors, mode=mode)
            )
            for item, ideal in tqdm(list(zip(items, ideals, strict=True)), desc=name, unit="query"):
                response = search.search(search.parse(item["query"]).merged(limit=10))
                if item["kind"] is None:
                    item[name] = float(response.total == 0 or response.closest_only)
                    continue
                item[name] = ndcg_at_10([judged(item, p) for p in response.products], ideal)
    return items, count


def report(part: str, items: list[dict[str, Any]], products: int, minutes: float) -> str:
    rng = np.random.default_rng(0)
    lines = [
        f"# Search quality by kind of query ({part})",
        "",
        f"Command: `{command('benchmarks.search_eval', '--part', part)}`  ",
        f"Machine: {machine()}. Took {minutes:.1f} min. Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Retail Demo Store catalogue, {products} products, imported into a fresh shop. nDCG@10 (mean, 95 % "
        "bootstrap interval over queries); for the queries the shop cannot answer, the share answered "
        "honestly (no result, or only the closest things).",
        "",
        "| queries | kind | n | " + " | ".join(SYSTEMS) + " |",
        "|---|---|---|" + "---|" * len(SYSTEMS),
    ]

    def row(label: str, kind: str, group: list[dict[str, Any]]) -> None:
        cells = []
        for name in SYSTEMS:
            values = [float(item[name]) for item in group]
            low, high = interval(values, rng)
            cells.append(f"{np.mean(values):.3f} ({low:.2f}-{high:.2f})")
        lines.append(f"| {label} | {kind} | {len(group)} | " + " | ".join(cells) + " |")

    new = [i for i in items if i["set"] == "new"]
    for style in STYLES:
        row("new", style, [i for i in new if i["style"] == style])
    row("new", "**all with an answer**", [i for i in new if i["style"] != "none"])
    row("new", "cannot be answered: honest share", [i for i in new if i["style"] == "none"])
    for style in ("older: clean", "older: variant"):
        row("older (seen before)", style, [i for i in items if i["style"] == style])
    if part != "dev":  # test queries are not studied one by one: nothing is fixed from them
        return "\n".join(lines)
    lines += ["", "Lowest-scoring new dev queries for the shipped ranker:", "", "| query | kind | nDCG@10 |"]
    lines.append("|---|---|---|")
    worst = sorted((i for i in new if i["style"] != "none"), key=lambda i: i["shipped (hybrid)"])[:12]
    lines += [f"| {i['query']} | {i['style']} | {i['shipped (hybrid)']:.2f} |" for i in worst]
    dishonest = [i["query"] for i in new if i["style"] == "none" and not i["shipped (hybrid)"]]
    lines += ["", f"Dev queries the shop cannot answer that got a page of matches: {', '.join(dishonest) or 'none'}."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("dev", "test"), default="dev")
    args = parser.parse_args()
    started = time.perf_counter()
    items, products = run(args.part)
    text = report(args.part, items, products, (time.perf_counter() - started) / 60)
    write_result(RESULTS / f"search_eval_{args.part}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
