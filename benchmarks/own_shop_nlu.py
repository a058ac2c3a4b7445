"""Does the NLU know an imported shop's own words? The Retail Demo Store catalogue, trained for.

    python -m benchmarks.own_shop_nlu                    # lookup_copies 2 and 0, seed 42
    python -m benchmarks.own_shop_nlu --seeds 42,43 --copies 2,0

Imports the public catalogue in ``../shared/data/catalog`` (or takes ``--db``), writes the bot's
training data with that shop's lookup tables and synonyms (``nlu.lookups``), trains the NLU of
``config.yml`` once per setting of ``lookup_copies`` (``nlu/augment.py``) and seed, and scores the
requests in ``benchmarks/data/own_shop_requests.yml``, written to name what that shop sells before
any model was scored on them: the intent, and the product-type and category spans (exact start,
end and type). Writes ``benchmarks/results/own_shop_nlu.md``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, command, machine, shared_data, wilson, write_result
from benchmarks.customer_service import train_nlu
from benchmarks.nlu import RasaNLU
from catalog import import_catalogue
from nlu.lookups import render
from nlu.metrics import entity_scores

REQUESTS = ROOT / "benchmarks" / "data" / "own_shop_requests.yml"
CATALOGUE = shared_data("catalog", "retail_demo_store_products.yaml")
KINDS = ("product_type", "category")


def requests() -> tuple[list[str], list[str], list[list[dict[str, object]]]]:
    from rasa.shared.nlu.training_data.loading import load_data

    rows = load_data(str(REQUESTS)).intent_examples
    spans = [[{k: e[k] for k in ("entity", "start", "end", "value")} for e in m.get("entities") or []] for m in rows]
    return [m.get("text") for m in rows], [m.get("intent") for m in rows], spans


def score(model: Path) -> dict[str, float]:
    texts, gold, gold_spans = requests()
    parses = RasaNLU("own-shop", str(model)).parse_many(texts, "own-shop requests")
    right = sum((p.get("intent") or {}).get("name") == g for p, g in zip(parses, gold, strict=True))
    found = [
        [{k: e.get(k) for k in ("entity", "start", "end", "value")} for e in p["entities"] if e["entity"] in KINDS]
        for p in parses
    ]
    wanted = [[e for e in row if e["entity"] in KINDS] for row in gold_spans]
    entities = entity_scores(wanted, found)
    return {"n": len(texts), "intent_right": right, "span_f1": entities.strict_f1, "overlap_f1": entities.overlap_f1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=None, help="an imported shop (default: import the public one)")
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--copies", default="2,0", help="values of lookup_copies to train with")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = args.db
        if db is None:
            if not CATALOGUE.exists():
                raise SystemExit(f"{CATALOGUE} is needed (the ../shared data folder)")
            db, _, _ = import_catalogue(CATALOGUE, work / "shop.db", progress=True)
        data = work / "nlu"
        shutil.copytree(ROOT / "data" / "nlu", data)
        (data / "lookups.yml").write_text(render(db), encoding="utf-8")
        for copies in [int(c) for c in args.copies.split(",")]:
            for seed in [int(s) for s in args.seeds.split(",")]:
                model = train_nlu(seed, work, {"lookup_copies": copies}, data)
                rows.append((copies, seed, score(model)))
    lines = [
        "# An imported shop's own words: the Retail Demo Store catalogue",
        "",
        f"Command: `{command('benchmarks.own_shop_nlu', *(sys.argv[1:] if argv is None else argv))}`  ",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"{rows[0][2]['n']} requests naming what the shop sells (`benchmarks/data/own_shop_requests.yml`, a",
        "development set). Intent right with 95% Wilson interval; product-type and category spans:",
        "F1 on exact spans, and on overlapping spans.",
        "",
        "| lookup_copies | seed | intent right | type/category span F1 | overlapping F1 |",
        "|---|---|---|---|---|",
    ]
    for copies, seed, s in rows:
        low, high = wilson(int(s["intent_right"]), int(s["n"]))
        lines.append(
            f"| {copies} | {seed} | {s['intent_right'] / s['n']:.1%} ({low:.1%}-{high:.1%}) "
            f"| {s['span_f1']:.1%} | {s['overlap_f1']:.1%} |"
        )
    text = "\n".join(lines)
    write_result(RESULTS / "own_shop_nlu.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
