"""Recommendations for the conversation: four kinds, each with a reason the bot can say.

1. ``similar``: nearest products by content vector, nudged by shared attributes (type, brand,
   colour, price); ``cheaper_alternatives`` is the same list below the product's price.
2. ``goes_with``: products bought in the same orders ("frequently bought together"), topped up
   with complementary products from the same category when the order history is thin.
3. ``for_you``: the personalised blend of ``catalog.recommend.algorithms`` over what this shopper viewed,
   carted and was shown in this conversation and bought in past orders.
4. ``new_arrivals``: recently added products, including ones nobody has bought yet (cold start),
   ranked by how well they match the shopper's request or interests.

Every function returns ``(product, reason)`` pairs; ``Recommender`` loads the order history and
the graphs once per process. Weights of the blend were tuned on a real retail log
(``benchmarks/results/catalog.md``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from catalog.models import Product
from catalog.policies import money
from catalog.recommend.algorithms import (
    ALSO_BOUGHT,
    BOUGHT_BEFORE,
    BOUGHT_TOGETHER,
    NEW_ARRIVAL,
    POPULAR,
    SIMILAR,
    ItemGraph,
    Personalised,
    Popularity,
    Purchase,
    Suggestion,
    Weights,
)
from catalog.search.hybrid import HybridSearch
from catalog.search.query import SearchQuery
from language.words import plural

Recommendation = tuple[Product, str]
GIFT_WORDS = re.compile(r"\b(gifts?|presents?|birthday|christmas|someone)\b", re.IGNORECASE)
NEW_DAYS = 60  # "new in" means added in the last two months
# Tuned on the Online Retail log (benchmarks/catalog.py --parts recs); baskets there were too sparse
# for bought-together to help the blend, so it serves "what goes with this" on its own.
LIVE_WEIGHTS = Weights(bought_together=0.25, also_bought=1.0, similar=0.25, bought_before=1.0, popular=0.3)
# How strongly each thing a shopper did says "I'm interested in this".
ACTION_WEIGHTS = {"carted": 1.0, "viewed": 0.8, "bought": 0.6, "shown": 0.25}
ACTION_WORDS = {
    "carted": "put the {} in your cart",
    "viewed": "looked at the {}",
    "bought": "bought the {} before",
    "shown": "were shown the {}",
}


@dataclass
class Interests:
    """What one shopper has shown interest in, most recent last; ids of products."""

    carted: list[str] = field(default_factory=list)
    viewed: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    bought: list[str] = field(default_factory=list)

    def profile(self) -> tuple[dict[str, float], dict[str, str]]:
        """item -> weight and item -> the strongest action behind it; later actions weigh more."""
        weights: dict[str, float] = defaultdict(float)
        action: dict[str, str] = {}
        for kind in ("shown", "bought", "viewed", "carted"):
            items = getattr(self, kind)
            for age, item in enumerate(reversed(items)):
                weights[item] += ACTION_WEIGHTS[kind] * math.pow(0.7, age)
                action[item] = kind
        top = max(weights.values(), default=1.0)
        return {i: w / top for i, w in weights.items()}, action

    def __bool__(self) -> bool:
        return bool(self.carted or self.viewed or self.shown or self.bought)


def with_article(noun: str) -> str:
    """'a smartwatch', 'an umbrella', 'earbuds' (plural nouns take none)."""
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


class VectorNeighbours:
    """Content neighbours from the product vectors, looked up when first needed."""

    def __init__(self, search: HybridSearch, k: int = 30) -> None:
        self.vectors = search.vectors
        self.k = k
        self._cached = lru_cache(maxsize=4096)(self._of)

    def of(self, item: str) -> list[tuple[str, float]]:
        return self._cached(item)

    def _of(self, item: str) -> list[tuple[str, float]]:
        vector = self.vectors.vector(item)
        if vector is None:
            return []
        return [(pid, s) for pid, s in self.vectors.search(vector, self.k + 1) if pid != item][: self.k]


class Recommender:
    """Every recommender over one shop: its products, vectors and order history."""

    def __init__(self, search: HybridSearch) -> None:
        self.search = search
        self.store = search.store
        purchases = [Purchase(*row) for row in self.store.purchases()]
        baskets: dict[str, list[str]] = defaultdict(list)
        customers: dict[str, list[str]] = defaultdict(list)
        for p in purchases:
            baskets[p.basket].append(p.item)
            customers[p.customer].append(p.item)
        type_of = dict(self.store.conn.execute("SELECT id, product_type FROM products").fetchall())
        type_baskets = [[type_of.get(i, "") for i in items] for items in baskets.values()]
        self.together = ItemGraph.from_groups(baskets.values(), shrink=1.0)
        # Most products sell a few times at most; kinds of product ("running shoes" with "smartwatch")
        # have enough orders between them to learn from.
        self.types_together = ItemGraph.from_groups(type_baskets, shrink=1.0, min_count=2)
        self.content = VectorNeighbours(search)
        self.popularity = Popularity(purchases)
        self.blend = Personalised(
            {
                BOUGHT_TOGETHER: self.together,
                ALSO_BOUGHT: ItemGraph.from_groups(customers.values(), shrink=10.0),
                SIMILAR: self.content,
            },
            self.popularity,
            LIVE_WEIGHTS,
            new=self._new_ids(),
        )

    def _new_ids(self) -> set[str]:
        """Recently added products that nobody has bought yet: the cold-start ones."""
        since = (dt.date.today() - dt.timedelta(days=NEW_DAYS)).isoformat()
        recent = {r[0] for r in self.store.conn.execute("SELECT id FROM products WHERE release_date >= ?", (since,))}
        return recent - set(self.popularity.count)

    # -- 1. similar items --------------------------------------------------------------------
    def _alike(self, product: Product, limit: int, cheaper: bool = False) -> list[Recommendation]:
        neighbours = dict(self.content.of(product.id))
        if cheaper:  # the nearest 30 may all cost more: widen to the same type below this price
            query = SearchQuery(product_type=product.product_type, price_max=round(product.price - 0.01, 2), limit=60)
            for p in self.search.search(query).products:
                neighbours.setdefault(p.id, 0.0)
        candidates = [
            p
            for p in self.store.products(list(neighbours))
            if p.id != product.id and (not cheaper or p.price < product.price)
        ]

        def score(p: Product) -> float:
            s = neighbours[p.id]
            s += 0.15 * (p.product_type == product.product_type) + 0.05 * (p.brand == product.brand)
            s += 0.05 * bool(set(p.colors) & set(product.colors)) + 0.05 * p.in_stock
            return s - 0.1 * abs(math.log(max(p.price, 0.01) / max(product.price, 0.01)))

        ranked = sorted(candidates, key=lambda p: (-score(p), p.id))[:limit]
        return [(p, self._alike_reason(product, p, cheaper)) for p in ranked]

    @staticmethod
    def _alike_reason(seed: Product, p: Product, cheaper: bool) -> str:
        if cheaper:
            return f"like the {seed.name}, {money(seed.price - p.price)} cheaper"
        shared = [
            w
            for w, same in (
                ("type", p.product_type == seed.product_type),
                ("brand", p.brand == seed.brand),
                ("colour", bool(set(p.colors) & set(seed.colors))),
            )
            if same
        ]
        detail = f", same {' and '.join(shared)}" if shared else ""
        return f"similar to the {seed.name}{detail}"

    def similar(self, product: Product, limit: int = 3) -> list[Recommendation]:
        return self._alike(product, limit)

    def cheaper_alternatives(self, product: Product, limit: int = 3) -> list[Recommendation]:
        return self._alike(product, limit, cheaper=True)

    # -- 2. bought together ------------------------------------------------------------------
    def goes_with(self, product: Product, limit: int = 3) -> list[Recommendation]:
        """Bought in the same orders as this product; else the kinds of product bought with its kind;
        else the closest other kinds of product by meaning."""
        picks: list[Recommendation] = []
        together = [pid for pid, _ in self.together.of(product.id)]
        for p in self.store.products(together):
            if p.product_type != product.product_type and p.in_stock:
                n = self.together.shared[product.id, p.id]
                picks.append((p, f"bought together with the {product.name} in {n} order{'s' if n > 1 else ''}"))
        seed = self.search.vectors.vector(product.id)
        for kind, _ in self.types_together.of(product.product_type):
            if len(picks) >= limit:
                break
            if kind == product.product_type or any(p.product_type == kind for p, _ in picks):
                continue
            options = self.search.search(SearchQuery(product_type=kind, in_stock=True, limit=100)).products
            if seed is not None:  # of that kind, the one closest to this product (same style, same sport)
                options.sort(key=lambda p: -self._closeness(seed, p.id))
            if options:
                n = self.types_together.shared[product.product_type, kind]
                why = f"shoppers who buy {plural(product.product_type)} often add {with_article(kind)} ({n} orders)"
                picks.append((options[0], why))
        if len(picks) < limit:
            picks += self._complements(product, limit - len(picks), {p.id for p, _ in picks})
        return picks[:limit]

    def _complements(self, product: Product, limit: int, taken: set[str]) -> list[Recommendation]:
        """Other kinds of product closest in meaning, one per kind: running shoes -> running socks.

        Products of the same type are alternatives, not companions, so they are left out, and at most
        one comes from the product's own category (a pan for a knife, but not three more shoes).
        """
        seed = self.search.vectors.vector(product.id)
        if seed is None:
            return []
        near = self.search.vectors.search(seed, 150)
        products = {p.id: p for p in self.store.products([pid for pid, _ in near])}
        picked: list[Product] = []
        for pid, _ in near:
            p = products.get(pid)
            if (
                p is None
                or pid in taken
                or not p.in_stock
                or p.product_type == product.product_type
                or any(p.product_type == q.product_type for q in picked)
                or (p.category == product.category and any(q.category == p.category for q in picked))
            ):
                continue
            picked.append(p)
            if len(picked) == limit:
                break
        return [(p, f"goes with the {product.name}") for p in picked]

    # -- 3. personalised ---------------------------------------------------------------------
    def for_you(self, interests: Interests, limit: int = 3, query: SearchQuery | None = None) -> list[Recommendation]:
        """The blend over this shopper's interests; ``query`` filters (e.g. a budget) still apply."""
        profile, action = interests.profile()
        # Nothing the shopper has already looked at; past purchases may come back (staples).
        exclude = set(interests.carted) | set(interests.viewed) | set(interests.shown)
        scored = self.blend.combine(self.blend.signals(profile, set(interests.bought)))
        suggestions = self.blend.rank(scored, limit * 10, exclude)
        products = {p.id: p for p in self.store.products([s.item for s in suggestions])}
        picks = []
        for s in suggestions:
            p = products.get(s.item)
            if p and p.in_stock and (query is None or self._fits(p, query)):
                picks.append((p, self._reason(s, action)))
            if len(picks) == limit:
                break
        return picks

    @staticmethod
    def _fits(p: Product, q: SearchQuery) -> bool:
        return (
            (q.price_max is None or p.price <= q.price_max)
            and (q.price_min is None or p.price >= q.price_min)
            and (not q.category or p.category == q.category)
            and (not q.product_type or p.product_type == q.product_type)
        )

    def _reason(self, s: Suggestion, action: dict[str, str]) -> str:
        because = self.store.product(s.because) if s.because else None
        name = because.name if because else "something you liked"
        did = ACTION_WORDS[action.get(s.because or "", "shown")].format(name)
        if s.reason == BOUGHT_BEFORE:
            return "you bought it before"
        if s.reason == BOUGHT_TOGETHER:
            return f"often bought together with the {name}"
        if s.reason == ALSO_BOUGHT:
            return f"customers who bought the {name} also bought it"
        if s.reason == NEW_ARRIVAL:
            return f"new in, and close to the {name} you {did.split(' the ')[0]}"
        if s.reason == SIMILAR:
            return f"because you {did}"
        if s.reason == POPULAR:
            return f"popular with other shoppers ({self.popularity.count.get(s.item, 0)} bought it)"
        return "picked for you"

    # -- 4. new arrivals ---------------------------------------------------------------------
    def new_arrivals(
        self, query: SearchQuery, interests: Interests | None = None, limit: int = 3
    ) -> list[Recommendation]:
        """Newest matching products; with no words to match, ranked by closeness to the shopper's interests."""
        since = (dt.date.today() - dt.timedelta(days=NEW_DAYS)).isoformat()
        wide = query.merged(limit=200, offset=0, sort="relevance" if query.text else "newest")
        found = [p for p in self.search.search(wide).products if p.release_date >= since]
        if not found:  # nothing that recent: the newest that match at all
            found = self.search.search(query.merged(limit=limit, offset=0, sort="newest")).products
            return [(p, f"our newest match, added {p.release_date}") for p in found]
        if interests and not query.text:
            taste = self._taste(interests)
            if taste is not None:
                found.sort(key=lambda p: -self._closeness(taste, p.id))
        what = query.product_type or query.category or query.text or "the shop"
        picks = []
        for p in found[:limit]:
            unsold = "; nobody has bought one yet" if p.id not in self.popularity.count else ""
            picks.append((p, f"new in {what}, added {p.release_date}{unsold}"))
        return picks

    def _taste(self, interests: Interests) -> np.ndarray | None:
        """The weighted mean vector of what the shopper showed interest in."""
        profile, _ = interests.profile()
        vectors = [(v, w) for i, w in profile.items() if (v := self.search.vectors.vector(i)) is not None]
        return np.sum([v * w for v, w in vectors], axis=0) if vectors else None

    def _closeness(self, vector: np.ndarray, product_id: str) -> float:
        other = self.search.vectors.vector(product_id)
        return float(np.dot(vector, other)) if other is not None else -1.0

    # -- needs ("a gift for a runner under 80") -----------------------------------------------
    def top_picks(self, query: SearchQuery, limit: int = 3) -> list[Recommendation]:
        """Best matches for a described need, well-rated ones first among close matches."""
        # "a gift for a runner": the gift is why they shop; who it is for is what to match.
        need_words = " ".join(GIFT_WORDS.sub(" ", query.text).split())
        if need_words:
            query = query.merged(text=need_words)
        ranked = self.search.search(query.merged(limit=20, offset=0)).products

        def rated(p: Product) -> float:  # one 5-star review must not beat a hundred 4.7s
            return -(p.rating * min(p.review_count, 200) / 200)

        if not query.text:  # filters only: nothing to be relevant to, so rating decides
            ranked = sorted(ranked, key=rated)
        else:  # the closest matches, better-rated first among them
            ranked = sorted(ranked[: limit * 2], key=rated) + ranked[limit * 2 :]
        need = f"'{query.text}'" if query.text else (query.product_type or query.category or "what you asked for")
        return [
            (p, f"a good match for {need}, rated {p.rating}/5 from {p.review_count} reviews") for p in ranked[:limit]
        ]
