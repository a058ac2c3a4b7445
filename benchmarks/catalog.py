"""Catalogue benchmark: search quality and search speed/memory at 2.5k, 100k and 1M products.

    python -m benchmarks.catalog                      # everything (quality, recs, scale)
    python -m benchmarks.catalog --parts quality      # judged queries on the real catalogue only
    python -m benchmarks.catalog --parts recs         # recommenders on the retail log only
    python -m benchmarks.catalog --parts scale --sizes 100000

Quality: the Retail Demo Store catalogue (../shared) is imported with the real importer and the
judged queries in benchmarks/data/search_judgments.yml are run through BM25 alone, vectors alone
and the hybrid; nDCG@10 per method, for clean queries and for misspelled/spoken variants.

Scale: catalogues of N products are generated deterministically from the demo shop's products
(each a template with a new id, model number, price and date). Embedding a million products with
MiniLM on 2 cores takes hours, so at scale every product's vector is its template's real embedding
plus small seeded noise; the embedding rate is measured on real texts and reported separately.
Each size runs in its own process so its memory is its own.

Recommendations: see benchmarks/recommendation_eval.py (time split of a real retail log,
Recall@10 and NDCG@10 against popularity and item-kNN). Results: benchmarks/results/catalog.md.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np  # noqa: E402
import yaml
from tqdm import tqdm

from benchmarks.common import RESULTS, ROOT, command, machine, shared_data, write_result
from catalog import (
    HybridSearch,
    LexicalSearch,
    Product,
    ProductVectors,
    Store,
    TextEncoder,
    build_demo_database,
    create_product_database,
    import_catalogue,
    product_text,
)

SHARED = shared_data()
RETAIL = SHARED / "catalog" / "retail_demo_store_products.yaml"
RETAIL_LOG = SHARED / "recsys" / "online_retail_sample40k.csv"
JUDGMENTS = ROOT / "benchmarks" / "data" / "search_judgments.yml"
SCALE_QUERIES = [
    "red running shoes under 100",
    "waterproof bluetooth speaker",
    "gift for a coffee lover",
    "something warm for winter evenings",
    "cheap yoga mat",
    "noise cancelling headphones",
    "Trailhawk hiking boots size 9",
    "a present for a keen gardener",
    "best rated frying pan",
    "laptop over 800",
    "scented candle lavender",
    "kids building blocks",
    "dog bed for a large dog",
    "fountain pen",
    "face moisturiser for dry skin",
    "leather bracelet",
    "novel about the sea",
    "olive oil",
    "smartwatch with heart rate",
    "office chair with lumbar support",
]


# -- quality ----------------------------------------------------------------------------------
def grade(product: Product, kind: str, detail: str | None) -> int:
    if not re.search(kind, product.name, re.IGNORECASE):
        return 0
    if detail is None or re.search(detail, f"{product.name} {product.description}", re.IGNORECASE):
        return 2
    return 1


def ndcg_at_10(grades: list[int], ideal: list[int]) -> float:
    def dcg(values: list[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(values[:10]))

    best = dcg(sorted(ideal, reverse=True))
    return dcg(grades) / best if best else 0.0


def quality(report: dict[str, Any]) -> None:
    if not RETAIL.exists():
        print(f"skipping search quality: {RETAIL} is absent (../shared not checked out)")
        return
    judged = yaml.safe_load(JUDGMENTS.read_text())["queries"]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db, count, _ = import_catalogue(RETAIL, Path(tmp) / "retail.db", progress=True)
        import_seconds = time.perf_counter() - started
        store = Store(db)
        encoder = TextEncoder()
        started = time.perf_counter()
        vectors = ProductVectors.for_store(store, encoder, progress=True)
        embed_seconds = time.perf_counter() - started
        products = store.products(store.product_ids())
        systems: dict[str, Any] = {
            "BM25 alone": HybridSearch(store, encoder, vectors, mode="lexical"),
            "vectors alone": HybridSearch(store, encoder, vectors, mode="vector"),
            "hybrid (RRF)": HybridSearch(store, encoder, vectors),
            "previous ranker (LexicalSearch)": LexicalSearch(store),
        }
        rows: dict[str, Any] = {}
        examples: list[dict[str, Any]] = []
        for name, searcher in systems.items():
            scores: dict[str, list[float]] = {"clean": [], "variant": []}
            latencies: list[float] = []
            for item in tqdm(judged, desc=name, unit="need"):
                ideal = [grade(p, item["kind"], item.get("detail")) for p in products]
                for kind, text in [("clean", item["query"])] + [("variant", v) for v in item.get("variants", [])]:
                    began = time.perf_counter()
                    query = searcher.parse(text).merged(limit=10)
                    hits = searcher.search(query).products
                    latencies.append((time.perf_counter() - began) * 1000)
                    got = [grade(p, item["kind"], item.get("detail")) for p in hits]
                    scores[kind].append(ndcg_at_10(got, ideal))
                    if name == "hybrid (RRF)" and kind == "variant" and scores[kind][-1] < 0.3:
                        examples.append({"query": text, "ndcg": scores[kind][-1], "top": [p.name for p in hits[:3]]})
            everything = scores["clean"] + scores["variant"]
            rows[name] = {
                "ndcg_all": float(np.mean(everything)),
                "ndcg_clean": float(np.mean(scores["clean"])),
                "ndcg_variant": float(np.mean(scores["variant"])),
                "n": len(everything),
                "n_clean": len(scores["clean"]),
                "p50_ms": float(np.percentile(latencies, 50)),
                "p95_ms": float(np.percentile(latencies, 95)),
            }
            print(name, json.dumps(rows[name]), flush=True)
        report["quality"] = {
            "products": count,
            "import_seconds": import_seconds,
            "embed_seconds": embed_seconds,
            "systems": rows,
            "weak_variants": examples[:15],
        }


# -- scale ------------------------------------------------------------------------------------
def synthetic_products(begin: int, count: int, templates: list[Product]) -> list[Product]:
    """Products begin..begin+count-1 of a generated catalogue: same input, same products."""
    rng = np.random.default_rng(begin)
    out = []
    for i in range(begin, begin + count):
        t = templates[i % len(templates)]
        out.append(
            Product(
                id=f"S{i:07d}",
                sku=f"S{i:07d}",
                name=f"{t.name} {chr(65 + i % 26)}{i // len(templates)}",
                brand=t.brand,
                category=t.category,
                product_type=t.product_type,
                colors=t.colors,
                sizes=t.sizes,
                material=t.material,
                price=round(float(t.price * rng.uniform(0.7, 1.3)), 2),
                rating=t.rating,
                review_count=t.review_count,
                stock=t.stock,
                release_date=t.release_date,
                description=t.description,
                tags=t.tags,
            )
        )
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def one_size(n: int, out: Path) -> None:
    """Build a catalogue of n products, its vectors and index, then time searches (own process)."""
    result: dict[str, Any] = {"products": n}
    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo_database(Path(tmp) / "demo.db", progress=False)
        demo_store = Store(demo)
        templates = demo_store.products(demo_store.product_ids())
        encoder = TextEncoder()
        started = time.perf_counter()
        template_vectors = encoder.encode([product_text(p) for p in templates], progress=False)
        result["embed_per_second"] = len(templates) / (time.perf_counter() - started)
        db = Path(tmp) / f"shop{n}.db"
        started = time.perf_counter()
        batches = (
            synthetic_products(begin, min(50_000, n - begin), templates)
            for begin in tqdm(range(0, n, 50_000), desc=f"{n}: database", unit="chunk")
        )
        create_product_database(db, batches)
        result["database_seconds"] = time.perf_counter() - started
        store = Store(db)
        rng = np.random.default_rng(3)
        ids = store.product_ids()
        rows = np.array([int(i[1:]) % len(templates) for i in ids])
        matrix = template_vectors[rows] + rng.normal(0, 0.02, (len(ids), template_vectors.shape[1])).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        vectors = ProductVectors.of_store(store, ids, matrix.astype(np.float32))
        started = time.perf_counter()
        vectors.build_index(progress=True)
        result["index_seconds"] = time.perf_counter() - started
        result["index"] = "FAISS HNSW" if vectors.index is not None else "exact"
        vectors.save(db)
        del vectors, matrix
        # A fresh searcher loads what a running shop would load.
        base = rss_mb()
        started = time.perf_counter()
        searcher = HybridSearch(Store(db), encoder)
        result["load_seconds"] = time.perf_counter() - started
        searcher.search(searcher.parse("warm up"))
        latencies = []
        for _ in range(3):
            for text in SCALE_QUERIES:
                began = time.perf_counter()
                searcher.search(searcher.parse(text))
                latencies.append((time.perf_counter() - began) * 1000)
        result["p50_ms"] = float(np.percentile(latencies, 50))
        result["p95_ms"] = float(np.percentile(latencies, 95))
        result["rss_mb"] = rss_mb()
        result["searcher_mb"] = result["rss_mb"] - base
        result["disk_mb"] = sum(f.stat().st_size for f in Path(tmp).glob(f"shop{n}.db*")) / 2**20
    out.write_text(json.dumps(result))


def scale(report: dict[str, Any], sizes: list[int]) -> None:
    report.setdefault("scale", {})
    for n in sizes:
        with tempfile.NamedTemporaryFile(suffix=".json") as handle:
            subprocess.run(
                [sys.executable, "-m", "benchmarks.catalog", "--one-size", str(n), "--out", handle.name], check=True
            )
            report["scale"][str(n)] = json.loads(Path(handle.name).read_text())
        print(n, json.dumps(report["scale"][str(n)]), flush=True)


def recommendations(report: dict[str, Any]) -> None:
    if not RETAIL_LOG.exists():
        print(f"skipping recommendations: {RETAIL_LOG} not found (../shared is not here)")
        return
    from benchmarks.recommendation_eval import evaluate

    encoder = TextEncoder()
    report["recs"] = evaluate(RETAIL_LOG, lambda texts: encoder.encode(texts, progress=True))


def recommendation_lines(r: dict[str, Any], ran: str) -> list[str]:
    pop = r["systems"]["popularity (baseline)"]
    lines = [
        "## Recommendations: time split of the Online Retail log",
        "",
        ran,
        f"{r['purchases']:,} purchase lines ({r['items']:,} items); trained on {r['train']:,} lines up to "
        f"{r['cut']}, tested on the later purchases of the {r['test_users']:,} customers who bought in both "
        "periods. Shrinkage and blend weights were tuned on a split inside the training period "
        f"({r['validation_users']} customers): shrink {r['shrink']}, weights {r['weights']}.",
        "",
        "| recommender | Recall@10 all later | NDCG@10 all | x popularity | Recall@10 new-to-them | "
        "NDCG@10 new | x popularity | with a reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in r["systems"].items():
        a, n = s["all"], s["new"]
        lines.append(
            f"| {name} | {a['recall']:.4f} | {a['ndcg']:.4f} | {a['recall'] / pop['all']['recall']:.2f} | "
            f"{n['recall']:.4f} | {n['ndcg']:.4f} | {n['recall'] / pop['new']['recall']:.2f} | "
            f"{100 * a['with_reason']:.0f}% |"
        )
    c = r["cold_start"]
    lines += [
        "",
        f"Cold start: {c['new_items']} items were first sold after the cut (no history at all). For the "
        f"{c['users']} test customers who bought one, ranking the new items by content similarity to their "
        f"history gives Recall@10 {c['recall']:.3f}, against {c['random_recall']:.3f} for a random order "
        "(popularity and item-kNN cannot rank them at all).",
        "",
    ]
    return lines


# -- report -----------------------------------------------------------------------------------
def markdown(report: dict[str, Any]) -> str:
    lines = ["# Catalogue benchmark", ""]

    def ran(part: str) -> str:
        where = report.get("runs", {}).get(part, f"{report['machine']}, {report['date']}")
        return f"Command: `{report['commands'].get(part, '?')}` on {where}  "

    q = report.get("quality")
    if q:
        rows = q["systems"]
        first = next(iter(rows.values()))
        lines += [
            "## Search quality: judged queries on the Retail Demo Store catalogue",
            "",
            ran("quality"),
            f"{q['products']} products imported in {q['import_seconds']:.1f} s, embedded in "
            f"{q['embed_seconds']:.1f} s. {first['n']} queries ({first['n_clean']} needs, the rest misspelled or "
            "spoken variants), judged from the products' own text (benchmarks/data/search_judgments.yml).",
            "",
            "| method | nDCG@10 all | clean queries | misspelled / spoken | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in rows.items():
            lines.append(
                f"| {name} | {r['ndcg_all']:.3f} | {r['ndcg_clean']:.3f} | {r['ndcg_variant']:.3f} | "
                f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
            )
        lines.append("")
        if q.get("weak_variants"):
            lines += [
                "Variants the hybrid still handles badly (nDCG@10 < 0.3):",
                "",
                "| query | nDCG@10 | top results |",
                "|---|---|---|",
            ]
            lines += [f"| {w['query']} | {w['ndcg']:.2f} | {'; '.join(w['top'])} |" for w in q["weak_variants"]]
            lines.append("")
    if report.get("recs"):
        lines += recommendation_lines(report["recs"], ran("recs"))
    s = report.get("scale")
    if s:
        lines += [
            "## Search speed and memory by catalogue size",
            "",
            ran("scale"),
            f"{len(SCALE_QUERIES)} shopper queries x 3, one at a time, parse + hybrid search, 2 cores.",
            "",
            "| products | vector index | p50 ms | p95 ms | database build s | index build s | "
            "load s | searcher RSS MB | process RSS MB | disk MB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for n, r in sorted(s.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {int(n):,} | {r['index']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                f"{r['database_seconds']:.1f} | {r['index_seconds']:.1f} | {r['load_seconds']:.1f} | "
                f"{r['searcher_mb']:.0f} | {r['rss_mb']:.0f} | {r['disk_mb']:.0f} |"
            )
        rate = np.mean([r["embed_per_second"] for r in s.values()])
        lines += [
            "",
            f"Embedding rate on real product texts: {rate:.0f} products/s, so embedding 100,000 "
            f"products takes about {100_000 / rate / 60:.0f} min and 1,000,000 about "
            f"{1_000_000 / rate / 3600:.1f} h on this machine (a one-off at import).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="quality,recs,scale")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--one-size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Time real embedding, not a hit in the shop's vector cache (models/cache) from an earlier run.
    os.environ["SHOPKEEPER_CACHE"] = tempfile.mkdtemp(prefix="catalog-bench-cache-")
    atexit.register(shutil.rmtree, os.environ["SHOPKEEPER_CACHE"], ignore_errors=True)
    if args.one_size:
        one_size(args.one_size, Path(args.out))
        return
    output = RESULTS / "catalog.json"
    report: dict[str, Any] = json.loads(output.read_text()) if output.exists() else {}
    report.update(machine=machine(), date=time.strftime("%Y-%m-%d"))
    report.setdefault("commands", {})
    ran = command("benchmarks.catalog", *sys.argv[1:])
    parts = set(args.parts.split(","))
    runs = report.setdefault("runs", {})  # each part's machine and date: parts are re-run one at a time
    if "quality" in parts:
        quality(report)
        report["commands"]["quality"] = ran
        runs["quality"] = f"{report['machine']}, {report['date']}"
    if "recs" in parts:
        recommendations(report)
        report["commands"]["recs"] = ran
        runs["recs"] = f"{report['machine']}, {report['date']}"
    if "scale" in parts:
        scale(report, [int(size) for size in args.sizes.split(",")])
        report["commands"]["scale"] = ran
        runs["scale"] = f"{report['machine']}, {report['date']}"
    write_result(output, json.dumps(report, indent=1))
    write_result(RESULTS / "catalog.md", markdown(report))


if __name__ == "__main__":
    main()
