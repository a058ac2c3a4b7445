"""Recommendations: the id-level models, the shop's four recommenders, and the conversation using them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.common import recommender
from actions.shopping import (
    ActionCompareProducts,
    ActionProductDetails,
    ActionRecommend,
    ActionSearchProducts,
    interests,
)
from catalog import OWNER
from catalog.recommend.algorithms import (
    BOUGHT_BEFORE,
    BOUGHT_TOGETHER,
    POPULAR,
    ItemGraph,
    Personalised,
    Popularity,
    Purchase,
    Weights,
    profile_from_history,
)
from catalog.recommend.shop import NEW_DAYS, Interests, Recommender
from catalog.store import Store
from tests.actions_helpers import ents, run, tracker


# -- the models on ids ---------------------------------------------------------------------------
def test_cooccurrence_graph_is_cosine_with_shrinkage() -> None:
    baskets = [["a", "b"], ["a", "b"], ["a", "c"], ["d"]]
    plain = ItemGraph.from_groups(baskets, shrink=0.0)
    # a is in 3 baskets, b in 2, together in 2: 2 / sqrt(3 * 2)
    assert dict(plain.of("a"))["b"] == pytest.approx(2 / 6**0.5)
    assert [i for i, _ in plain.of("a")] == ["b", "c"]
    assert plain.of("d") == []  # never bought with anything
    shrunk = ItemGraph.from_groups(baskets, shrink=2.0)
    assert dict(shrunk.of("a"))["b"] == pytest.approx(2 / 6**0.5 * 2 / 4)
    assert dict(ItemGraph.from_groups(baskets, min_count=2).of("a")).keys() == {"b"}


def test_vector_graph_finds_nearest_other_items() -> None:
    m = [[1, 0], [0.9, 0.436], [0, 1]]
    import numpy as np

    graph = ItemGraph.from_vectors(["x", "y", "z"], np.array(m, dtype=np.float32), k=1)
    assert [i for i, _ in graph.of("x")] == ["y"] and [i for i, _ in graph.of("z")] == ["y"]


def test_personalised_blend_keeps_the_reason_that_contributed_most() -> None:
    purchases = [
        Purchase("u1", "tent", "o1", "1"),
        Purchase("u1", "stove", "o1", "1"),
        Purchase("u2", "tent", "o2", "2"),
        Purchase("u2", "stove", "o2", "2"),
        Purchase("u3", "mug", "o3", "3"),
        Purchase("u4", "mug", "o4", "4"),
        Purchase("u5", "mug", "o5", "5"),
    ]
    together = ItemGraph.from_groups([["tent", "stove"], ["tent", "stove"]], shrink=0.0)
    model = Personalised(
        {BOUGHT_TOGETHER: together},
        Popularity(purchases),
        Weights(bought_together=1, also_bought=0, similar=0, bought_before=0.5, popular=0.01),
    )
    picks = model.recommend({"tent": 1.0}, k=3, bought={"tent"})
    assert picks[0].item == "stove" and picks[0].reason == BOUGHT_TOGETHER and picks[0].because == "tent"
    assert any(p.item == "tent" and p.reason == BOUGHT_BEFORE for p in picks)
    # Nothing known about the shopper: what most people buy, labelled as such.
    cold = model.recommend({}, k=2)
    assert cold[0].item == "mug" and cold[0].reason == POPULAR
    assert all(p.item != "stove" for p in model.recommend({"tent": 1.0}, k=3, exclude={"stove"}))


def test_recent_history_weighs_more() -> None:
    profile = profile_from_history([("2024-01-01", "old"), ("2024-06-01", "new")], half_life=1)
    assert profile["new"] == 1.0 and profile["old"] == pytest.approx(0.5)


# -- the shop's recommenders -----------------------------------------------------------------------
@pytest.fixture()
def shop(shop_db: Path) -> Iterator[tuple[Recommender, Store]]:
    yield recommender(), recommender().store


def test_similar_items_share_the_type_and_say_why(shop: tuple[Recommender, Store]) -> None:
    rec, store = shop
    seed = store.product("P00014")
    assert seed
    picks = rec.similar(seed)
    assert len(picks) == 3 and all(p.id != seed.id for p, _ in picks)
    assert sum(p.product_type == seed.product_type for p, _ in picks) >= 2
    assert all(seed.name in why for _, why in picks)
    cheaper = rec.cheaper_alternatives(seed)
    assert cheaper and all(p.price < seed.price for p, _ in cheaper)


def test_goes_with_is_learned_from_real_orders(shop: tuple[Recommender, Store]) -> None:
    rec, store = shop
    seed_id = store.conn.execute("SELECT id FROM products WHERE product_type = 'frying pan' ORDER BY id").fetchone()[0]
    seed = store.product(seed_id)
    assert seed
    picks = rec.goes_with(seed)
    assert len(picks) == 3 and all(p.product_type != seed.product_type for p, _ in picks)
    baskets: dict[str, set[str]] = {}
    for order_id, pid in store.conn.execute(
        "SELECT order_id, product_id FROM order_lines l JOIN orders o "
        "ON o.id = l.order_id WHERE o.status != 'cancelled'"
    ):
        baskets.setdefault(order_id, set()).add(pid)
    types = dict(store.conn.execute("SELECT id, product_type FROM products").fetchall())
    kinds = [{types[i] for i in b} for b in baskets.values()]
    from_orders = 0
    for product, why in picks:  # every count the bot says must be true of the orders table
        if match := re.search(r"in (\d+) orders?$", why):
            real = sum(1 for b in baskets.values() if {seed.id, product.id} <= b)
        elif match := re.search(r"\((\d+) orders\)$", why):
            real = sum(1 for k in kinds if {seed.product_type, product.product_type} <= k)
        else:
            continue
        from_orders += 1
        assert int(match.group(1)) == real >= 2 or "bought together" in why, why
    assert from_orders >= 2


def test_new_arrivals_include_products_nobody_has_bought(shop: tuple[Recommender, Store]) -> None:
    rec, store = shop
    picks = rec.new_arrivals(rec.search.parse("anything new in running shoes"))
    since = (dt.date.today() - dt.timedelta(days=NEW_DAYS)).isoformat()
    assert picks and all(p.product_type == "running shoes" and p.release_date >= since for p, _ in picks)
    sold = {r[0] for r in store.conn.execute("SELECT product_id FROM order_lines")}
    for product, why in picks:
        assert ("nobody has bought one yet" in why) == (product.id not in sold)
    # With no words to match, the shopper's interests order the new products.
    fresh = rec.new_arrivals(rec.search.parse(""), Interests(viewed=["P00014"]))
    assert fresh and all(p.release_date >= since for p, _ in fresh)


def test_personal_picks_come_from_what_the_shopper_did(shop: tuple[Recommender, Store]) -> None:
    rec, store = shop
    viewed = store.product("P00014")
    assert viewed
    picks = rec.for_you(Interests(viewed=[viewed.id]))
    assert len(picks) == 3 and all(p.id != viewed.id for p, _ in picks)
    assert any(viewed.name in why for _, why in picks)
    budget = rec.for_you(Interests(viewed=[viewed.id]), query=rec.search.parse("under 40"))
    assert budget and all(p.price <= 40 for p, _ in budget)
    # A first visit: what other shoppers buy, saying so.
    popular = rec.for_you(Interests())
    assert popular and all("popular" in why for _, why in popular)


def test_gift_for_a_runner_under_80(shop: tuple[Recommender, Store]) -> None:
    rec, _ = shop
    picks = rec.top_picks(rec.search.parse("recommend a gift for a runner under 80"))
    assert picks and all(p.price <= 80 for p, _ in picks)
    assert any(p.product_type == "running shoes" for p, _ in picks)
    assert all("runner" in why for _, why in picks)


# -- in the conversation ---------------------------------------------------------------------------
def test_recommendation_requests_resolve_from_context(shop_db: Path, store: Store) -> None:
    """One conversation: search, open a product, then each kind of request the issue lists."""
    _, ctx, _ = run(ActionSearchProducts(), tracker("show me running shoes", "search_products"))
    _, changes, _ = run(
        ActionProductDetails(),
        tracker("tell me about the first one", "product_details", ents(ordinal="first"), slots=ctx),
    )
    ctx.update(changes)
    seed = store.product(ctx["selected_product"])
    assert seed and ctx["viewed_products"] == [seed.id]

    def ask(text: str, **entities: str) -> tuple[list, str]:
        _, changes, reply = run(ActionRecommend(), tracker(text, "ask_recommendation", ents(**entities), slots=ctx))
        picks = store.products(changes.get("last_results", []))
        assert picks and reply.count("Why:") == len(picks), reply
        return picks, reply

    similar, _ = ask("show me something similar")
    assert seed.id not in {p.id for p in similar} and any(p.product_type == seed.product_type for p in similar)
    cheaper, _ = ask("any cheaper alternatives like this")
    assert all(p.price < seed.price for p in cheaper)
    goes, _ = ask("what goes with this")
    assert all(p.product_type != seed.product_type for p in goes)
    new, reply = ask("anything new in running shoes", product_type="running shoes")
    assert all(p.product_type == "running shoes" for p in new) and "new in" in reply
    mine, reply = ask("what would you recommend for me")
    assert seed.name in reply  # "because you looked at ..."
    gift, _ = ask("recommend a gift for a runner under 80", price_max="80")
    assert all(p.price <= 80 for p in gift)
    ctx["last_results"] = [p.id for p in gift]
    _, _, reply = run(
        ActionCompareProducts(), tracker("compare the first two", "compare_products", ents(ordinal="first"), slots=ctx)
    )
    assert gift[0].name in reply and gift[1].name in reply


def test_past_orders_shape_picks_for_a_known_customer(shop_db: Path, store: Store) -> None:
    orders = store.orders_for_customer("C0001")
    bought = {line.product_id for o in orders for line in o.lines}
    # A slot naming the customer opens nothing; a conversation that proved the account does.
    claimed = tracker("what do you recommend", "ask_recommendation", slots={"customer_id": "C0001"})
    assert interests(claimed).bought == []
    store.identity.grant("test-user", OWNER, email=store.customer("C0001").email)
    assert set(interests(claimed).bought) == bought
    _, changes, reply = run(ActionRecommend(), tracker("what do you recommend", "ask_recommendation"))
    assert changes["last_results"] and "Why:" in reply
    names = {p.name for p in store.products(list(bought))}
    assert any(name in reply for name in names) or "bought it before" in reply, reply
