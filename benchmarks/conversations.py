"""Multi-turn task success: scripted conversations against the real servers.

    python -m benchmarks.conversations                  # the demo shop and the imported public catalogue
    python -m benchmarks.conversations --shops demo     # the demo shop only (no training)

The scripts (``benchmarks/data/conversations.yml``, written before any was run) cover the refinement
states (0, 1, 2 and many results, after a relaxation, after a page change) and the customer-service
flows, with what each turn must do. A script succeeds when every turn does. The demo shop runs on
``models/shopkeeper.tar.gz``; the Retail Demo Store catalogue from ``../shared`` is imported into a
fresh shop and the bot trained for it first (``nlu.shop_model``, a few minutes), as `make run` would.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from benchmarks.common import DEMO_DB, RESULTS, ROOT, command, machine, shared_data, wilson, write_result
from bot.launcher import DEFAULT_MODEL, Services, free_port
from catalog import Store, import_catalogue
from nlu.shop_model import train_for_shop

SCRIPTS = ROOT / "benchmarks" / "data" / "conversations.yml"
LISTED = re.compile(r"^\s*\d+\. (.+?) - \$([\d,]+\.?\d*)", re.MULTILINE)
NOT_UNDERSTOOD = "didn't quite get that"
DEMO_EMAIL = "alex.morgan@example.com"  # the demo customer the scripts speak as (orders 10001-10005)


@dataclass
class Shown:
    names: list[str] = field(default_factory=list)
    prices: list[float] = field(default_factory=list)


def listed(reply: str) -> Shown:
    found = LISTED.findall(reply)
    return Shown([n for n, _ in found], [float(p.replace(",", "")) for _, p in found])


def problems(expect: dict[str, Any], reply: str, shown: Shown, before: Shown, types: dict[str, set[str]]) -> list[str]:
    """What this turn's reply got wrong (empty when it did what the shopper meant)."""
    low = reply.lower()
    wrong = [] if NOT_UNDERSTOOD not in low else ["not understood"]
    n = len(shown.names)
    if "lists" in expect and n != expect["lists"]:
        wrong.append(f"listed {n}, expected {expect['lists']}")
    if "lists_min" in expect and n < expect["lists_min"]:
        wrong.append(f"listed {n}, expected at least {expect['lists_min']}")
    if "lists_max" in expect and n > expect["lists_max"]:
        wrong.append(f"listed {n}, expected at most {expect['lists_max']}")
    if "types" in expect:
        off = [name for name in shown.names if not types.get(name, set()) & set(expect["types"])]
        if off:
            wrong.append(f"not {expect['types']}: {off[:2]}")
    wrong += [f"does not say {s!r}" for s in expect.get("says", []) if s.lower() not in low]
    if expect.get("says_any") and not any(s.lower() in low for s in expect["says_any"]):
        wrong.append(f"says none of {expect['says_any']}")
    wrong += [f"says {s!r}" for s in expect.get("not_says", []) if s.lower() in low]
    for key, below in (("cheaper", True), ("pricier", False)):
        if expect.get(key):
            middle = statistics.median(before.prices) if before.prices else None
            if middle is None or not shown.prices:
                wrong.append(f"{key}: nothing to compare")
            elif any((p >= middle) if below else (p <= middle) for p in shown.prices):
                wrong.append(f"{key}: a price on the wrong side of {middle}")
    for position in expect.get("mentions", []):
        if position > len(before.names) or before.names[position - 1].lower() not in low:
            wrong.append(f"does not name product {position} of the list before")
    return wrong


def mailed_code(store: Store) -> str:
    messages = store.outbox(to=DEMO_EMAIL, limit=1)
    found = re.search(r"\b(\d{6})\b", messages[0]["body"]) if messages else None
    return found.group(1) if found else "000000"


def run_script(services: Services, store: Store, script: dict[str, Any]) -> tuple[bool, str]:
    sender = f"script-{uuid.uuid4().hex[:10]}"
    before = Shown()
    types: dict[str, set[str]] = {}  # a name can belong to several products (the public catalogue repeats some)
    for name, kind in store.conn.execute("SELECT name, product_type FROM products"):
        types.setdefault(name, set()).add(kind)
    for number, turn in enumerate(script["turns"], start=1):
        text = turn["say"].replace("{code}", mailed_code(store)) if "{code}" in turn["say"] else turn["say"]
        response = httpx.post(
            f"{services.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=120
        )
        reply = "\n".join(m.get("text", "") for m in response.json()) if response.status_code == 200 else ""
        shown = listed(reply)
        wrong = problems(turn.get("expect", {}), reply, shown, before, types)
        if wrong:
            return False, f"turn {number} ({turn['say']!r}): {'; '.join(wrong)} | reply: {reply[:160]!r}"
        if shown.names:
            before = shown
    return True, ""


def run_shop(name: str, db: Path, model: Path, scripts: list[dict[str, Any]]) -> dict[str, Any]:
    store = Store(db)
    services = Services(
        actions_port=free_port(), rasa_port=free_port(), gateway_port=free_port(), db=str(db), model=model
    )
    results = []
    with services:
        services.start(gateway=False)
        for script in scripts:
            ok, why = run_script(services, store, script)
            results.append({"name": script["name"], "ok": ok, "why": why})
            print(f"  [{name}] {'ok  ' if ok else 'FAIL'} {script['name']}{'' if ok else ': ' + why}", flush=True)
    store.close()
    return {"scripts": results, "succeeded": sum(r["ok"] for r in results)}


def markdown(report: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Multi-turn task success: scripted conversations with the real servers",
        "",
        f"`{command('benchmarks.conversations')}` on {machine()}. Scripts: `benchmarks/data/conversations.yml`",
        "(written before any was run). A script succeeds when every turn does what the shopper meant.",
        "",
        "| shop | scripts | succeeded (95% CI) |",
        "|---|---|---|",
    ]
    for shop, result in report.items():
        n, k = len(result["scripts"]), result["succeeded"]
        low, high = wilson(k, n)
        lines.append(f"| {shop} | {n} | {k}/{n} = {k / n:.0%} ({low:.0%}-{high:.0%}) |")
    for shop, result in report.items():
        failed = [r for r in result["scripts"] if not r["ok"]]
        lines += ["", f"Failed on {shop}:" if failed else f"Every script succeeded on {shop}."]
        lines += [f"- {r['name']}: {r['why']}" for r in failed]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shops", default="demo,retail", help="demo, retail or both")
    parser.add_argument("--out", type=Path, default=RESULTS / "conversations.md")
    args = parser.parse_args(argv)
    scripts = yaml.safe_load(SCRIPTS.read_text(encoding="utf-8"))
    report: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "demo" in args.shops:
            db = shutil.copy(DEMO_DB, work / "demo.db")
            report["demo shop"] = run_shop("demo", Path(db), DEFAULT_MODEL, scripts["demo"])
        if "retail" in args.shops:
            print("importing the Retail Demo Store catalogue and training the bot for it...", flush=True)
            db, _, _ = import_catalogue(shared_data("catalog", "retail_demo_store_products.yaml"), work / "retail.db")
            model = train_for_shop(db, work, "retail")
            report["Retail Demo Store (imported)"] = run_shop("retail", db, model, scripts["retail"])
    text = markdown(report)
    write_result(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
