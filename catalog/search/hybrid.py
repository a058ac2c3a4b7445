"""Hybrid product search: BM25 and semantic vectors, fused by reciprocal rank.

BM25 finds the products that use the shopper's words; the vectors find the ones that mean the
same thing in other words ("something for a marathon" -> running shoes). Each ranks up to
``CANDIDATES`` products that pass the structured filters, and reciprocal rank fusion (RRF) merges
the two lists: a product ranked high by either side comes first, one ranked high by both wins.
Misspelled and misheard brand or product words are corrected before anything else.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from catalog.search.lexical import (
    BM25_WEIGHTS,
    LexicalSearch,
    SearchHit,
    SearchResponse,
    fts_expression,
    phrase_in,
    type_expression,
)
from catalog.search.query import (
    CATEGORY_SYNONYMS,
    COLOR_SYNONYMS,
    NEGATION_WORDS,
    STOP_WORDS,
    SearchQuery,
    Vocabulary,
    parse_query,
)
from catalog.search.vectors import ProductVectors, TextEncoder
from catalog.store import Store
from language.fuzzy import VocabularyCorrector
from language.numbers import NUMBER_WORDS

CANDIDATES = 50
RRF_K = 60
# Below this cosine similarity a product is not a semantic match at all (measured on the judged
# query set, benchmarks/results/catalog.md).
MIN_SIMILARITY = 0.30
# When no product holds every word of the query, a product this similar still answers it ("something
# to tell the time on my wrist" -> watches); below, the shop's nearest things are only that (chosen on
# the dev half of benchmarks/data/out_of_catalogue.yml and the judged queries, DESIGN.md).
ANSWERING_SIMILARITY = 0.50
NAME_WORD_MIN_PRODUCTS = 2
COMMON_WORD_DOCS = 3000
# One worker for the whole process: searchers come and go (tests, reloads), the thread need not.
_EMBEDDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-embedding")


def shop_corrector(store: Store, vocabulary: Vocabulary, english: set[str]) -> VocabularyCorrector:
    """Corrects misspelled or misheard words towards what this shop sells; ``english`` are real
    words that are never corrected. Shared by search and by speech recognition."""
    v = vocabulary
    terms = [*v.brands, *v.product_types, *v.categories, *v.colors, *v.materials]
    # Real words are left alone: "mountain" must not become "fountain" (pen).
    # Negations too: "don't" is not a misheard "donut".
    known = set(english) | set(STOP_WORDS) | set(NUMBER_WORDS) | set(COLOR_SYNONYMS) | set(NEGATION_WORDS)
    known |= {w for words in CATEGORY_SYNONYMS.values() for s in words for w in s.split()}
    # Words the catalogue itself uses in names, brands, types and tags are never corrected.
    in_names: Counter[str] = Counter()
    for row in store.conn.execute("SELECT name, brand, product_type, tags FROM products"):
        known.update(re.findall(r"[a-z0-9][a-z0-9'&-]*", " ".join(str(x or "") for x in row).lower()))
        in_names.update(set(re.findall(r"[a-z]{4,}", str(row[0]).lower())))
    # Words several product names share ("succulent", "kayak") are things shoppers ask for
    # by name, so a misspelling of one is corrected to it too.
    terms += [w for w, n in in_names.items() if n >= NAME_WORD_MIN_PRODUCTS and w not in STOP_WORDS]
    return VocabularyCorrector(terms, known)


class HybridSearch(LexicalSearch):
    """``LexicalSearch`` plus vectors and spelling correction, behind the same interface."""

    MODES = ("hybrid", "lexical", "vector")

    def __init__(
        self,
        store: Store,
        encoder: TextEncoder | None = None,
        vectors: ProductVectors | None = None,
        progress: bool = False,
        mode: str = "hybrid",
    ) -> None:
        super().__init__(store)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}")
        self.mode = mode  # "lexical" / "vector" switch one side off, for measuring each alone
        self.encoder = encoder or TextEncoder()
        self.vectors = vectors or ProductVectors.for_store(store, self.encoder, progress=progress)
        self._corrector: VocabularyCorrector | None = None
        self._frequency: dict[str, int] = {}  # one word's FTS expression -> products (fixed while serving)

    @property
    def corrector(self) -> VocabularyCorrector:
        if self._corrector is None:
            self._corrector = shop_corrector(self.store, self.vocabulary, self.encoder.words())
        return self._corrector

    def parse(self, text: str, base: SearchQuery | None = None) -> SearchQuery:
        corrected, corrections = self.corrector.correct(text)
        query = parse_query(corrected, self.vocabulary, base)
        query.corrections = [(c.heard, c.meant) for c in corrections]
        return query

    # -- retrieval -------------------------------------------------------------------------
    def _document_frequency(self, word: str, whole_word: bool = False) -> int:
        """Products using ``word``: as a prefix (BM25's matching), or ``whole_word`` ("car" not "carrow")."""
        expression = f'"{word}"' if whole_word else fts_expression(word, "all")
        if expression not in self._frequency:
            row = self.store.conn.execute(
                "SELECT COUNT(*) FROM product_fts WHERE product_fts MATCH ?", (expression,)
            ).fetchone()
            self._frequency[expression] = int(row[0])
        return self._frequency[expression]

    def _informative(self, text: str) -> str:
        """``text`` without words found in more than ``COMMON_WORD_DOCS`` products (or in none).

        Such a word barely changes BM25's order but scoring its thousands of matches is most of
        the time a large catalogue's search takes ("gift" in 10,000 of 100,000 products).
        """
        words = re.findall(r"\w+", text.lower())
        rare = [w for w in words if 0 < self._document_frequency(w) <= COMMON_WORD_DOCS]
        # Every word common (or unknown): BM25 has nothing selective to rank by; the vectors and
        # the filters decide. Catalogues under COMMON_WORD_DOCS products never get here.
        return " ".join(rare)

    def _lexical(self, q: SearchQuery, clauses: list[str], args: list[object]) -> list[str]:
        text = self._informative(q.text)
        # The type and brand filters also go into the MATCH, so SQLite joins and filters only the
        # products FTS already knows fit ("waterproof" alone matches 2,400 of 100,000 products).
        narrowing = [phrase_in("brand", q.brand)] if q.brand else []
        narrowing += [type_expression(q.product_type)] if q.product_type else []
        for mode in ("all", "any"):
            expression = fts_expression(text, mode)
            if not expression:
                return []
            expression = " AND ".join([f"({expression})", *narrowing])
            weights = ", ".join(str(w) for w in BM25_WEIGHTS)
            where = " AND ".join(["product_fts MATCH ?", *clauses])
            rows = self.store.conn.execute(
                f"SELECT p.id FROM product_fts JOIN products p ON p.rowid = product_fts.rowid WHERE {where} "
                f"ORDER BY bm25(product_fts, {weights}) LIMIT ?",
                [expression, *args, CANDIDATES],
            ).fetchall()
            if rows:
                return [r[0] for r in rows]
        return []

    def _allowed(self, clauses: list[str], args: list[object]) -> set[str] | None:
        """Ids of the products that pass the filters (None: no filters, all do)."""
        if not clauses:
            return None
        sql = f"SELECT p.id FROM products p WHERE {' AND '.join(clauses)}"
        return {r[0] for r in self.store.conn.execute(sql, args)}

    def _semantic(self, query_vector: np.ndarray, allowed: set[str] | None) -> list[tuple[str, float]]:
        hits = self.vectors.search(query_vector, CANDIDATES, allowed)
        return [(pid, score) for pid, score in hits if score >= MIN_SIMILARITY]

    def _holds_every_word(self, q: SearchQuery, clauses: list[str], args: list[object]) -> bool:
        """Whether some product that passes the filters uses every word of the query's text (as a
        whole word, not a prefix: "car" is not "carrow"). Words the shop never uses anywhere are
        leftovers of a browse ("kitchen stuff") when a category was named; otherwise they count."""
        words = [w for w in re.findall(r"\w+", q.text.lower()) if len(w) > 1 and not w.isdigit()]
        if q.category or q.color or q.material:
            words = [w for w in words if self._document_frequency(w, whole_word=True) > 0]
        if not words:
            return True
        expression = " ".join(f'"{w}"' for w in words)
        where = " AND ".join(["product_fts MATCH ?", *clauses])
        row = self.store.conn.execute(
            f"SELECT 1 FROM product_fts JOIN products p ON p.rowid = product_fts.rowid WHERE {where} LIMIT 1",
            [expression, *args],
        ).fetchone()
        return row is not None

    def _run(self, q: SearchQuery) -> SearchResponse:
        if not re.search(r"\w", q.text):
            return super()._run(q)  # filters only: nothing to rank by meaning
        clauses, args = self._where(q)
        if q.product_type and not self._holds_every_word(q, clauses, args):
            # The other words name something no product of that type is ("a wall clock for my
            # kitchen": kitchen is a type of this shop, but here only a detail). When products
            # outside the type hold them, the type word goes back into the words to rank by.
            loose = q.merged(product_type=None, text=f"{q.text} {q.product_type}")
            if self._holds_every_word(q.merged(product_type=None), *self._where(loose)):
                return self._run(loose)
        # The query is embedded on a second thread while SQLite ranks by BM25: both release the GIL.
        embedding = _EMBEDDER.submit(self.encoder.encode_query, q.text) if self.mode != "lexical" else None
        lexical = self._lexical(q, clauses, args) if self.mode != "vector" else []
        # Filtering by SQL still overlaps the embedding; only the vector lookup has to wait for it.
        allowed = self._allowed(clauses, args) if embedding else None
        scored = self._semantic(embedding.result(), allowed) if embedding else []
        semantic = [pid for pid, _ in scored]
        if not lexical and not semantic and clauses:
            # Leftover words are soft ("comfortable"); the filters are what the shopper insisted on,
            # unless the shop uses those words only elsewhere ("dog food": dogs are in pets, not groceries).
            if not (q.product_type or q.brand) and not self._holds_every_word(q, clauses, args):
                return SearchResponse(q, [], 0, closest_only=True)  # search() then drops the filter
            return super()._run(q.merged(text=""))
        # A named type or brand is something the shop sells; otherwise the words must be found or meant.
        closest_only = not (q.product_type or q.brand) and not (
            (scored and scored[0][1] >= ANSWERING_SIMILARITY) or self._holds_every_word(q, clauses, args)
        )
        # Then words matched only in part ("car" in "Carrow") rank nothing: only meaning does, if anything.
        rankings = (semantic,) if closest_only else (lexical, semantic)
        fused: dict[str, float] = {}
        for ranking in rankings:
            for rank, pid in enumerate(ranking):
                fused[pid] = fused.get(pid, 0.0) + 1.0 / (RRF_K + rank + 1)
        # Order by the few columns sorting needs; build whole products only for the page shown.
        marks = ",".join("?" * len(fused))
        facts = {
            r[0]: r[1:]
            for r in self.store.conn.execute(
                f"SELECT id, stock, price, rating, release_date FROM products WHERE id IN ({marks})", list(fused)
            )
        }

        def key(pid: str) -> tuple[int, float, float, str]:
            stock, price, rating, released = facts[pid]
            return self._sort_key(q, stock, price, rating, released, score=fused[pid], pid=pid)

        order = sorted(facts, key=key)
        page = self.store.products(order[q.offset : q.offset + q.limit])
        hits = [SearchHit(product, round(fused[product.id], 6)) for product in page]
        return SearchResponse(q, hits, len(order), closest_only=closest_only)

    @staticmethod
    def _sort_key(
        q: SearchQuery,
        stock: int | None,
        price: float,
        rating: float | None,
        release_date: str | None,
        score: float,
        pid: str,
    ) -> tuple[int, float, float, str]:
        """In-stock first (a shopper can't buy the others today), then the asked-for order."""
        if q.sort == "price_asc":
            primary = price
        elif q.sort == "price_desc":
            primary = -price
        elif q.sort == "rating":
            primary = -(rating or 0.0)
        elif q.sort == "newest":
            primary = -float(dt.date.fromisoformat(release_date).toordinal()) if release_date else 0.0
        else:
            primary = -score
        return (0 if (stock or 0) > 0 else 1, primary, -score, pid)
