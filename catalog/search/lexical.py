"""Product search: SQLite FTS5 (BM25) with structured filters, sorting and relaxation.

``LexicalSearch`` is the first implementation of the ``ProductSearch`` interface; the hybrid
(lexical + vector) searcher of a later issue plugs in behind the same interface.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from catalog.models import Product
from catalog.search.query import SearchQuery, Vocabulary, parse_query
from catalog.store import Store, product_from_row

# Column weights for bm25(): id (unindexed), name, brand, product_type, tags, description.
BM25_WEIGHTS = (0.0, 10.0, 6.0, 8.0, 4.0, 1.0)
# When nothing matches, filters are dropped in this order, least important first.
RELAX_ORDER = ("material", "size", "color", "in_stock", "brand", "price_min", "price_max", "category")


@dataclass
class SearchHit:
    product: Product
    score: float


@dataclass
class SearchResponse:
    query: SearchQuery
    hits: list[SearchHit]
    total: int
    relaxed: list[str] = field(default_factory=list)  # filters dropped to find anything
    # No product uses all of the shopper's words and none is close in meaning either: the hits are
    # only the nearest things the shop has, and must not be presented as matches.
    closest_only: bool = False

    @property
    def products(self) -> list[Product]:
        return [hit.product for hit in self.hits]


class ProductSearch(Protocol):
    def search(self, query: SearchQuery) -> SearchResponse: ...

    def parse(self, text: str, base: SearchQuery | None = None) -> SearchQuery: ...


def phrase_in(columns: str, phrase: str) -> str:
    """FTS5 match for ``phrase`` in ``columns`` ("brand" or "{name tags}"); quoting keeps user text inert."""
    return f'{columns} : "{phrase.replace(chr(34), " ")}"'


def type_expression(product_type: str) -> str:
    """FTS5 match for products of ``product_type``: the phrase in their type or their name."""
    return phrase_in("{product_type name}", product_type)


def fts_expression(text: str, mode: str) -> str:
    """An FTS5 query from plain words; quoting each token makes user text inert."""
    tokens = re.findall(r"[\w]+", text.lower())
    # Prefixes from four letters: "art" must not find "artisanal" (plurals are the stemmer's job).
    quoted = [f'"{t}"*' if len(t) >= 4 else f'"{t}"' for t in tokens]
    return (" OR " if mode == "any" else " ").join(quoted)


class LexicalSearch:
    """BM25 over name, brand, type, tags and description, plus SQL filters."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._vocab: Vocabulary | None = None

    @property
    def vocabulary(self) -> Vocabulary:
        if self._vocab is None:
            s = self.store
            self._vocab = Vocabulary(
                brands=s.distinct("brand"),
                categories=s.distinct("category"),
                product_types=s.distinct("product_type"),
                colors=s.distinct("colors"),
                sizes=s.distinct("sizes"),
                materials=s.distinct("material"),
            )
        return self._vocab

    def parse(self, text: str, base: SearchQuery | None = None) -> SearchQuery:
        return parse_query(text, self.vocabulary, base)

    def search(self, query: SearchQuery) -> SearchResponse:
        response = self._run(query)
        relaxed: list[str] = []
        current = query
        for name in RELAX_ORDER:
            if response.total:
                break
            if current.filters().get(name) is None:
                continue
            current = current.merged(**{name: False if name == "in_stock" else None})
            relaxed.append(name)
            response = self._run(current)
        response.relaxed = relaxed
        response.query = current
        return response

    def _where(self, q: SearchQuery) -> tuple[list[str], list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        for column in ("category", "brand"):
            value = getattr(q, column)
            if value:
                clauses.append(f"p.{column} = ? COLLATE NOCASE")
                args.append(value)
        if q.product_type:
            # A shop's own types are messy (crossbody bags filed as handbags, plate sets beside tool
            # sets): a product is of the type when its type or its name says so.
            clauses.append("p.rowid IN (SELECT rowid FROM product_fts WHERE product_fts MATCH ?)")
            args.append(type_expression(q.product_type))
        if q.material:
            clauses.append("p.material LIKE ?")
            args.append(f"%{q.material}%")
        for column, value in (("colors", q.color), ("sizes", q.size)):
            if value:
                clauses.append(f"EXISTS (SELECT 1 FROM json_each(p.{column}) WHERE lower(value) = lower(?))")
                args.append(value)
        if q.price_min is not None:
            clauses.append("p.price >= ?")
            args.append(q.price_min)
        if q.price_max is not None:
            clauses.append("p.price <= ?")
            args.append(q.price_max)
        if q.in_stock:
            clauses.append("p.stock > 0")
        for word in q.excluded:
            clauses.append("p.rowid NOT IN (SELECT rowid FROM product_fts WHERE product_fts MATCH ?)")
            args.append(phrase_in("{name tags description}", word))
        return clauses, args

    def _order(self, q: SearchQuery, has_text: bool) -> str:
        return {
            "price_asc": "p.price ASC",
            "price_desc": "p.price DESC",
            "rating": "p.rating DESC, p.review_count DESC",
            "newest": "p.release_date DESC",
        }.get(q.sort, "rank ASC" if has_text else "p.rating * (1 + min(p.review_count, 500) / 100.0) DESC")

    def _run(self, q: SearchQuery) -> SearchResponse:
        clauses, args = self._where(q)
        for mode in ("all", "any"):
            expression = fts_expression(q.text, mode)
            if expression:
                weights = ", ".join(str(w) for w in BM25_WEIGHTS)
                source = "product_fts JOIN products p ON p.rowid = product_fts.rowid"
                where = ["product_fts MATCH ?", *clauses]
                params: list[object] = [expression, *args]
                rank = f"bm25(product_fts, {weights})"
            else:
                source, where, params, rank = "products p", clauses, list(args), "0.0"
            where_sql = f"WHERE {' AND '.join(where)}" if where else ""
            total = self.store.conn.execute(f"SELECT COUNT(*) FROM {source} {where_sql}", params).fetchone()[0]
            if total or not expression:
                break
        rows = self.store.conn.execute(
            f"SELECT p.*, {rank} AS rank FROM {source} {where_sql} "
            # In-stock products first: a shopper can't buy the others today.
            f"ORDER BY (p.stock > 0) DESC, {self._order(q, bool(expression))}, p.id LIMIT ? OFFSET ?",
            [*params, q.limit, q.offset],
        ).fetchall()
        hits = [SearchHit(product_from_row(row), round(-float(row["rank"]), 4)) for row in rows]
        return SearchResponse(q, hits, int(total))
