"""Recommendation quality on a real retail log, with a time-based split.

The log is ../shared/data/recsys/online_retail_sample40k.csv (UCI Online Retail, 40k sampled
lines). Cancellations, lines without a customer and non-product codes (postage, fees) are
dropped. Everything before the cut (80% of the way through the log's time span) is training;
each customer who bought both before and after the cut is a test case, and the items they bought
after the cut are the targets. Two target sets are scored:

* all later purchases (buying again counts, as it does for a shop), and
* new-to-them items only (items they had bought before are neither targets nor allowed picks).

The blend's weights are chosen on a second split inside the training period, never on the test.
Cold start is scored separately: items first sold after the cut have no history, so only content
similarity can rank them; random order is the reference.
"""

from __future__ import annotations

import csv
import itertools
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from catalog import (
    ALSO_BOUGHT,
    BOUGHT_TOGETHER,
    SIMILAR,
    ItemGraph,
    Personalised,
    Popularity,
    Purchase,
    Weights,
    profile_from_history,
)

K = 10
CUT = 0.8
NEIGHBOURS = 100
SHRINKS = [0.0, 2.0, 10.0, 30.0]


def load(path: Path) -> tuple[list[Purchase], dict[str, str]]:
    """Purchases in time order and item -> description."""
    purchases, names = [], {}
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.DictReader(handle):
            code, customer = row["StockCode"].strip(), (row["CustomerID"] or "").strip()
            if (
                not customer
                or row["InvoiceNo"].startswith("C")
                or float(row["Quantity"] or 0) <= 0
                or not code[:1].isdigit()
            ):
                continue
            stamp = row["InvoiceDate"].strip()
            purchases.append(Purchase(customer.split(".")[0], code, row["InvoiceNo"], stamp))
            names.setdefault(code, " ".join(row["Description"].split()).lower())
    purchases.sort(key=lambda p: p.time)
    return purchases, names


def split(purchases: list[Purchase], fraction: float) -> tuple[list[Purchase], list[Purchase]]:
    """Before and after the point ``fraction`` of the way through the log's time span."""
    first, last = _seconds(purchases[0].time), _seconds(purchases[-1].time)
    cut = first + fraction * (last - first)
    before = [p for p in purchases if _seconds(p.time) < cut]
    return before, purchases[len(before) :]


def _seconds(stamp: str) -> float:
    return time.mktime(time.strptime(stamp[:16], "%Y-%m-%d %H:%M"))


@dataclass
class Case:
    history: list[tuple[str, str]]  # (time, item)
    targets: set[str]
    bought: set[str] = field(default_factory=set)


def cases(train: list[Purchase], test: list[Purchase]) -> list[Case]:
    history: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for p in train:
        history[p.customer].append((p.time, p.item))
    later: dict[str, set[str]] = defaultdict(set)
    for p in test:
        if p.customer in history:
            later[p.customer].add(p.item)
    return [Case(history[c], later[c], {i for _, i in history[c]}) for c in sorted(later)]


def ndcg(ranked: list[str], targets: set[str]) -> float:
    gain = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked[:K]) if item in targets)
    ideal = sum(1 / math.log2(r + 2) for r in range(min(K, len(targets))))
    return gain / ideal if ideal else 0.0


def score(recommend: Any, test_cases: list[Case], new_only: bool) -> dict[str, float]:
    """Mean Recall@10 and NDCG@10; ``recommend(case, exclude)`` returns suggestions."""
    recalls, ndcgs, reasons, shown = [], [], 0, 0
    for case in test_cases:
        exclude = case.bought if new_only else set()
        targets = case.targets - exclude
        if not targets:
            continue
        picks = recommend(case, exclude)
        ranked = [s.item for s in picks][:K]
        reasons += sum(1 for s in picks[:K] if s.reason)
        shown += len(ranked)
        recalls.append(len(set(ranked) & targets) / len(targets))
        ndcgs.append(ndcg(ranked, targets))
    return {
        "recall": float(np.mean(recalls)),
        "ndcg": float(np.mean(ndcgs)),
        "users": len(recalls),
        "with_reason": reasons / max(1, shown),
    }


class Models:
    """Every recommender trained on one period of the log."""

    def __init__(self, train: list[Purchase], content: ItemGraph, shrink: dict[str, float] | None = None) -> None:
        shrink = shrink or {}
        baskets: dict[str, list[str]] = defaultdict(list)
        histories: dict[str, list[str]] = defaultdict(list)
        for p in train:
            baskets[p.basket].append(p.item)
            histories[p.customer].append(p.item)
        self.popularity = Popularity(train)
        self.together = ItemGraph.from_groups(baskets.values(), k=NEIGHBOURS, shrink=shrink.get(BOUGHT_TOGETHER, 2.0))
        self.item_knn = ItemGraph.from_groups(histories.values(), k=NEIGHBOURS, shrink=shrink.get(ALSO_BOUGHT, 2.0))
        self.content = content

    def personalised(self, weights: Weights, new: set[str] | None = None) -> Personalised:
        graphs = {BOUGHT_TOGETHER: self.together, ALSO_BOUGHT: self.item_knn, SIMILAR: self.content}
        return Personalised(graphs, self.popularity, weights, new or set())

    def graph_only(self, graph: ItemGraph, reason: str) -> Any:
        model = Personalised(
            {reason: graph}, self.popularity, Weights(**{f: 0.0 for f in Weights.__dataclass_fields__} | {reason: 1.0})
        )
        return lambda c, ex: model.recommend(profile_from_history(c.history), K, c.bought, ex)

    def systems(self, weights: Weights) -> dict[str, Any]:
        """name -> recommend(case, exclude): the two baselines, each signal alone, and the blend."""
        graph_only = self.graph_only
        blend = self.personalised(weights)
        return {
            "popularity (baseline)": lambda c, ex: self.popularity.recommend(K, exclude=ex),
            "item-kNN (baseline)": graph_only(self.item_knn, ALSO_BOUGHT),
            "bought together (baskets)": graph_only(self.together, BOUGHT_TOGETHER),
            "similar items (content vectors)": graph_only(self.content, SIMILAR),
            "personalised blend": lambda c, ex: blend.recommend(profile_from_history(c.history), K, c.bought, ex),
        }


GRID = {
    "bought_together": [0.0, 0.5, 1.0],
    "similar": [0.0, 0.25, 0.5],
    "bought_before": [0.0, 1.0, 2.0, 4.0],
    "popular": [0.02, 0.1, 0.3],
}


def validation_ndcg(run: Any, valid: list[Case]) -> float:
    """The tuning score: NDCG@10 over all later purchases and over new-to-them ones, averaged."""
    return (score(run, valid, False)["ndcg"] + score(run, valid, True)["ndcg"]) / 2


def tune(
    train: list[Purchase], content: ItemGraph, max_users: int = 600
) -> tuple[dict[str, float], Weights, dict[str, float]]:
    """Each co-occurrence graph's shrinkage (baselines included), then the blend's weights, by
    NDCG@10 on the last part of the training period: the test period is never looked at."""
    inner_train, inner_test = split(train, CUT)
    valid = cases(inner_train, inner_test)
    random.Random(7).shuffle(valid)
    valid = valid[:max_users]
    shrink: dict[str, float] = {}
    for reason, attr in ((ALSO_BOUGHT, "item_knn"), (BOUGHT_TOGETHER, "together")):
        tried = {}
        for value in SHRINKS:
            candidate = Models(inner_train, content, {reason: value})
            tried[value] = validation_ndcg(candidate.graph_only(getattr(candidate, attr), reason), valid)
        shrink[reason] = max(tried, key=lambda v: tried[v])
    models = Models(inner_train, content, shrink)
    blend = models.personalised(Weights())
    # A shopper's signals do not depend on the weights: compute them once, re-weight per grid point.
    cached = [(c, blend.signals(profile_from_history(c.history), c.bought)) for c in valid]
    best, best_score = Weights(), -1.0
    for values in itertools.product(*GRID.values()):
        weights = Weights(**dict(zip(GRID, values, strict=True)))
        value = 0.0
        for new_only in (False, True):
            ndcgs = []
            for case, signals in cached:
                exclude = case.bought if new_only else set()
                targets = case.targets - exclude
                if targets:
                    picks = blend.rank(blend.combine(signals, weights), K, exclude)
                    ndcgs.append(ndcg([s.item for s in picks], targets))
            value += float(np.mean(ndcgs)) / 2
        if value > best_score:
            best, best_score = weights, value
    return shrink, best, {"validation_ndcg": best_score, "validation_users": len(valid)}


def cold_start(models: Models, train: list[Purchase], test: list[Purchase]) -> dict[str, float]:
    """Items first sold after the cut, ranked for each buyer by content similarity to their history."""
    known = {p.item for p in train}
    new = sorted({p.item for p in test} - known)
    new_set = set(new)
    blend = Personalised(
        {SIMILAR: models.content},
        models.popularity,
        Weights(bought_together=0, also_bought=0, similar=1, bought_before=0, popular=0),
        new_set,
    )
    recalls, random_recalls = [], []
    for case in cases(train, test):
        targets = case.targets & new_set
        if not targets:
            continue
        picks = blend.recommend(profile_from_history(case.history), K * 20)
        ranked = [s.item for s in picks if s.item in new_set][:K]
        recalls.append(len(set(ranked) & targets) / len(targets))
        random_recalls.append(min(K, len(new)) / len(new))  # expected recall of a random order
    return {
        "new_items": len(new),
        "users": len(recalls),
        "recall": float(np.mean(recalls)),
        "random_recall": float(np.mean(random_recalls)),
    }


def evaluate(path: Path, encode: Any) -> dict[str, Any]:
    """The whole comparison; ``encode(texts)`` gives unit-length vectors for item descriptions."""
    started = time.perf_counter()
    purchases, names = load(path)
    train, test = split(purchases, CUT)
    items = sorted(names)
    content = ItemGraph.from_vectors(items, encode([names[i] for i in items]))
    embed_seconds = time.perf_counter() - started
    shrink, weights, tuning = tune(train, content)
    models = Models(train, content, shrink)
    test_cases = cases(train, test)
    report: dict[str, Any] = {
        "purchases": len(purchases),
        "train": len(train),
        "test": len(test),
        "items": len(items),
        "cut": train[-1].time[:10],
        "test_users": len(test_cases),
        "embed_seconds": embed_seconds,
        "shrink": shrink,
        "weights": weights.__dict__,
        **tuning,
        "systems": {},
    }
    for name, run in models.systems(weights).items():
        report["systems"][name] = {"all": score(run, test_cases, False), "new": score(run, test_cases, True)}
    report["cold_start"] = cold_start(models, train, test)
    report["seconds"] = time.perf_counter() - started
    return report
