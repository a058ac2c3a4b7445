"""First recommenders: similar items, items that go together, top picks and new arrivals.

Each returns (product, reason) pairs so the bot can say why. The catalogue-intelligence
issue replaces these heuristics with learned models behind the same functions.
"""

from __future__ import annotations

from catalog.models import Product
from catalog.query import SearchQuery
from catalog.search import LexicalSearch

Recommendation = tuple[Product, str]


def _rank(products: list[Product]) -> list[Product]:
    # Rating weighted by how many people rated it, so one 5-star review doesn't win.
    return sorted(products, key=lambda p: (p.rating * min(p.review_count, 200) / 200, p.rating), reverse=True)


def similar(searcher: LexicalSearch, product: Product, limit: int = 3) -> list[Recommendation]:
    """Same type, a similar price (within 40%), best rated first."""
    query = SearchQuery(product_type=product.product_type, price_min=round(product.price * 0.6, 2),
                        price_max=round(product.price * 1.4, 2), limit=30)
    candidates = [p for p in searcher.search(query).products if p.id != product.id]
    return [(p, f"similar to the {product.name}, at {'a lower' if p.price < product.price else 'a similar'} price")
            for p in _rank(candidates)[:limit]]


def cheaper_alternatives(searcher: LexicalSearch, product: Product, limit: int = 3) -> list[Recommendation]:
    query = SearchQuery(product_type=product.product_type, price_max=round(product.price - 0.01, 2),
                        sort="rating", limit=limit)
    return [(p, f"a cheaper {product.product_type} than the {product.name}")
            for p in searcher.search(query).products if p.id != product.id][:limit]


def goes_with(searcher: LexicalSearch, product: Product, limit: int = 3) -> list[Recommendation]:
    """Other product types from the same category, best rated: a pan goes with a knife."""
    query = SearchQuery(category=product.category, limit=60, sort="rating")
    others = [p for p in searcher.search(query).products if p.product_type != product.product_type]
    picked: list[Product] = []
    for p in _rank(others):
        if all(p.product_type != q.product_type for q in picked):
            picked.append(p)
        if len(picked) == limit:
            break
    return [(p, f"goes well with the {product.name}") for p in picked]


def top_picks(searcher: LexicalSearch, query: SearchQuery, limit: int = 3) -> list[Recommendation]:
    wide = query.merged(limit=40, offset=0)
    response = searcher.search(wide)
    what = query.product_type or query.category or "matches"
    return [(p, f"one of our best-rated {what}, {p.rating}/5 from {p.review_count} reviews")
            for p in _rank(response.products)[:limit]]


def new_arrivals(searcher: LexicalSearch, query: SearchQuery, limit: int = 3) -> list[Recommendation]:
    response = searcher.search(query.merged(sort="newest", limit=limit, offset=0))
    return [(p, f"new in, added {p.release_date}") for p in response.products]
