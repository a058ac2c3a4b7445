"""Recommendation models on item ids: the learned part behind ``catalog.recommend.shop``.

Everything here works on plain ids and purchases, so the same code scores the shop's own orders
in the conversation and a public retail log in ``benchmarks/catalog.py``.

* ``ItemGraph``: each item's nearest neighbours under one signal, kept sparse (top ``k``):
  co-occurrence in the same basket ("bought together"), in the same customer's history
  (item-kNN, the classic collaborative filter), or closeness of content vectors.
* ``Popularity``: distinct buyers per item; the baseline and the tie-breaker.
* ``Personalised``: blends the graphs over a shopper's profile (what they viewed, carted,
  searched for and bought) and keeps, for every suggestion, the signal and the profile item
  that contributed most: that is the reason the bot says.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import sparse

# Reason kinds, in the words of the signal that produced a suggestion.
BOUGHT_TOGETHER = "bought_together"
ALSO_BOUGHT = "also_bought"
SIMILAR = "similar"
BOUGHT_BEFORE = "bought_before"
POPULAR = "popular"
NEW_ARRIVAL = "new_arrival"


class Neighbours(Protocol):
    """What a blended signal needs: an item's neighbours with their similarity (ItemGraph, or the
    shop's product vectors)."""

    def of(self, item: str) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class Purchase:
    customer: str
    item: str
    basket: str
    time: str  # ISO timestamp; only its order matters


@dataclass(frozen=True)
class Suggestion:
    item: str
    score: float
    reason: str  # one of the kinds above
    because: str | None = None  # the profile item behind it, when there is one


class ItemGraph:
    """Top-``k`` neighbours of every item under one similarity."""

    def __init__(
        self, neighbours: dict[str, list[tuple[str, float]]], shared: dict[tuple[str, str], int] | None = None
    ) -> None:
        self.neighbours = neighbours
        # For co-occurrence graphs: how many groups each kept pair shares (what the bot can cite).
        self.shared = shared or {}

    def of(self, item: str) -> list[tuple[str, float]]:
        return self.neighbours.get(item, [])

    def __len__(self) -> int:
        return len(self.neighbours)

    @classmethod
    def from_groups(
        cls, groups: Iterable[Iterable[str]], k: int = 50, shrink: float = 2.0, min_count: int = 1
    ) -> ItemGraph:
        """Cosine similarity of items over groups (baskets or customers) that contain them.

        ``shrink`` pulls pairs seen together only once or twice towards zero, so one shared
        basket between two rare items does not make them each other's best match.
        """
        items: dict[str, int] = {}
        rows, cols = [], []
        for g, group in enumerate(groups):
            for item in set(group):
                rows.append(g)
                cols.append(items.setdefault(item, len(items)))
        if not items:
            return cls({})
        ids = list(items)
        x = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(max(rows) + 1, len(ids)))
        counts = np.asarray(x.sum(axis=0)).ravel()
        together = (x.T @ x).tocsr()
        together.setdiag(0)
        together.eliminate_zeros()
        neighbours: dict[str, list[tuple[str, float]]] = {}
        pairs: dict[tuple[str, str], int] = {}
        for i in range(len(ids)):
            start, end = together.indptr[i], together.indptr[i + 1]
            cols_i, shared = together.indices[start:end], together.data[start:end]
            keep = shared >= min_count
            cols_i, shared = cols_i[keep], shared[keep]
            if len(cols_i) == 0:
                continue
            sims = shared / np.sqrt(counts[i] * counts[cols_i]) * (shared / (shared + shrink))
            top = np.argsort(-sims)[:k]
            neighbours[ids[i]] = [(ids[cols_i[t]], float(sims[t])) for t in top]
            pairs.update({(ids[i], ids[cols_i[t]]): int(shared[t]) for t in top})
        return cls(neighbours, pairs)

    @classmethod
    def from_vectors(cls, ids: Sequence[str], matrix: np.ndarray, k: int = 50, block: int = 1024) -> ItemGraph:
        """Cosine neighbours of unit-length vectors (exact, in blocks: fine to ~50k items)."""
        neighbours: dict[str, list[tuple[str, float]]] = {}
        k = min(k, len(ids) - 1)
        if k <= 0:
            return cls({})
        for start in range(0, len(ids), block):
            sims = matrix[start : start + block] @ matrix.T
            for offset, row in enumerate(sims):
                i = start + offset
                row[i] = -np.inf
                top = np.argpartition(-row, k)[:k]
                top = top[np.argsort(-row[top])]
                neighbours[ids[i]] = [(ids[t], float(row[t])) for t in top]
        return cls(neighbours)


class Popularity:
    """Items by how many different customers bought them."""

    def __init__(self, purchases: Iterable[Purchase]) -> None:
        buyers: dict[str, set[str]] = defaultdict(set)
        for p in purchases:
            buyers[p.item].add(p.customer)
        self.count = Counter({item: len(who) for item, who in buyers.items()})
        top = max(self.count.values(), default=1)
        self.score = {item: n / top for item, n in self.count.items()}
        self.ranked = [item for item, _ in self.count.most_common()]

    def recommend(self, k: int, exclude: set[str] = frozenset()) -> list[Suggestion]:  # type: ignore[assignment]
        picks = (i for i in self.ranked if i not in exclude)
        return [Suggestion(i, self.score[i], POPULAR) for _, i in zip(range(k), picks, strict=False)]


@dataclass
class Weights:
    """How much each signal counts in a personalised score (tuned on a validation split)."""

    bought_together: float = 1.0
    also_bought: float = 1.0
    similar: float = 0.5
    bought_before: float = 1.0
    popular: float = 0.05


@dataclass
class Personalised:
    """Suggestions for one shopper from everything known about them, each with its reason.

    ``profile`` maps item -> weight (recent and strong actions such as carting weigh more than
    an old view). Graph signals spread each profile item's weight to its neighbours;
    ``bought_before`` lets staples come back; popularity breaks ties. Items in ``new`` (no
    interaction history yet) can only be reached through content similarity, and are labelled
    new arrivals so the bot can say so.
    """

    graphs: Mapping[str, Neighbours]  # reason kind -> graph
    popularity: Popularity
    weights: Weights = field(default_factory=Weights)
    new: set[str] = field(default_factory=set)

    def signals(self, profile: dict[str, float], bought: set[str]) -> dict[str, dict[str, tuple[float, str | None]]]:
        """Reason kind -> item -> (score from that signal alone, the profile item that gave most).

        Independent of the weights, so weights can be tuned without rescoring every profile.
        """
        out: dict[str, dict[str, tuple[float, str | None]]] = {}
        for reason, graph in self.graphs.items():
            totals: dict[str, float] = defaultdict(float)
            strongest: dict[str, tuple[float, str]] = {}
            for source, strength in profile.items():
                for item, sim in graph.of(source):
                    amount = strength * sim
                    totals[item] += amount
                    if amount > strongest.get(item, (0.0, ""))[0]:
                        strongest[item] = (amount, source)
            out[reason] = {item: (total, strongest[item][1]) for item, total in totals.items()}
        out[BOUGHT_BEFORE] = {item: (profile.get(item, 0.0), item) for item in bought}
        return out

    def combine(
        self, signals: dict[str, dict[str, tuple[float, str | None]]], weights: Weights | None = None
    ) -> dict[str, tuple[float, str, str | None]]:
        """Item -> (weighted score, reason, because): the reason is the signal that added most."""
        weights = weights or self.weights
        total: dict[str, float] = defaultdict(float)
        best: dict[str, tuple[float, str, str | None]] = {}
        for reason, scores in signals.items():
            weight = getattr(weights, reason)
            if not weight:
                continue
            for item, (value, because) in scores.items():
                amount = weight * value
                total[item] += amount
                if amount > best.get(item, (0.0, "", None))[0]:
                    best[item] = (amount, reason, because)
        for item in total:
            total[item] += weights.popular * self.popularity.score.get(item, 0.0)
        return {item: (score, *best[item][1:]) for item, score in total.items() if item in best}

    def rank(
        self, scored: dict[str, tuple[float, str, str | None]], k: int, exclude: set[str] | None = None
    ) -> list[Suggestion]:
        exclude = exclude or set()
        ranked = sorted(
            (
                (s, item, reason, because)
                for item, (s, reason, because) in scored.items()
                if item not in exclude and s > 0
            ),
            key=lambda t: (-t[0], t[1]),
        )
        picks = [
            Suggestion(item, s, NEW_ARRIVAL if item in self.new else reason, because)
            for s, item, reason, because in ranked[:k]
        ]
        if len(picks) < k:  # too little history: top up with what is popular
            taken = exclude | {p.item for p in picks}
            picks += self.popularity.recommend(k - len(picks), exclude=taken)
        return picks

    def recommend(
        self, profile: dict[str, float], k: int = 10, bought: set[str] | None = None, exclude: set[str] | None = None
    ) -> list[Suggestion]:
        return self.rank(self.combine(self.signals(profile, bought or set())), k, exclude)


def profile_from_history(history: Sequence[tuple[str, str]], half_life: int = 10) -> dict[str, float]:
    """Item -> weight from (time, item) events: the latest events weigh most (halving every
    ``half_life`` events back), repeated items add up, and the largest weight is 1."""
    weights: dict[str, float] = defaultdict(float)
    ordered = sorted(history)
    for age, (_, item) in enumerate(reversed(ordered)):
        weights[item] += math.pow(0.5, age / half_life)
    top = max(weights.values(), default=1.0)
    return {item: w / top for item, w in weights.items()}
