"""Dense product vectors for semantic search: all-MiniLM-L6-v2 sentence embeddings, offline.

Every product is embedded once (name, type, brand, colours, start of the description) and the
unit-length vectors are saved next to the database (``shop.db.vectors.npz``). A query is embedded
on the fly and compared by cosine similarity: exactly (one matrix product) up to
``ANN_THRESHOLD`` products, through a FAISS HNSW index above that (built once, saved as
``shop.db.faiss``). A fingerprint of the product table says when the files are stale.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from catalog.models import Product
from catalog.settings import CatalogSettings
from catalog.store import Store, product_from_row
from language.encoder import default_encoder_dir, offline_environment

ANN_THRESHOLD = 20_000
# Vectors of small catalogues are also kept here by fingerprint, so a rebuilt or copied database
# with the same products (the demo shop, every test's copy of it) is never embedded twice.
HNSW_NEIGHBOURS = 32
HNSW_SEARCH_DEPTH = 128


def product_text(product: Product) -> str:
    """What a product is, in the words a shopper might use."""
    parts = [
        product.name,
        product.product_type,
        product.brand,
        " ".join(product.colors),
        product.category,
        product.description[:300],
    ]
    return ". ".join(p for p in parts if p)


class TextEncoder:
    """Sentence embeddings from the bundled all-MiniLM-L6-v2 (no model hub)."""

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, threads: int = 2) -> None:
        offline_environment(allow_network=False)
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(model_dir or default_encoder_dir()), device="cpu")
        self.dimension = int(self.model.get_embedding_dimension() or 384)
        self._query_model: Any = None  # the int8 copy of the encoder, made on first use

    def words(self) -> set[str]:
        """Whole English words the encoder's tokenizer knows: real words, never "corrected"."""
        return {w for w in self.model.tokenizer.get_vocab() if w.isalpha() and len(w) > 1}

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One shopper query, on the fast path: int8 linear layers and no batching machinery.

        A search embeds one short query per turn; this halves the time ``encode`` takes for it
        (benchmarks/results/catalog.md) while products stay embedded in full precision.
        """
        import torch

        if self._query_model is None:
            self._query_model = _quantized_copy(self.model[0].auto_model)
        tokenizer = self.model[0].tokenizer
        batch = tokenizer([text], return_tensors="pt", truncation=True, max_length=self.model.max_seq_length)
        # Search runs BM25 in SQLite on the other core meanwhile: one core each (15 ms here) beats
        # both fighting over two (12.7 ms alone, 20-25 ms beside SQLite; 2 cores, 100k products).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                hidden = self._query_model(**batch).last_hidden_state[0]
        finally:
            torch.set_num_threads(threads)
        vector = hidden.mean(dim=0).numpy()  # mean pooling, as the sentence model does (one text: no padding)
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)


def _quantized_copy(model: object) -> object:
    """The encoder with int8 dynamic quantisation of its linear layers, per channel (CPU inference only)."""
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        # One scale per output row, not per matrix: cosine to the full model 0.97+ instead of 0.89+.
        quantized = quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear: per_channel_dynamic_qconfig})
    quantized.eval()
    return quantized


def table_fingerprint(store: Store) -> str:
    """Changes whenever a product is added, removed or renamed."""
    digest = hashlib.sha256()
    for row in store.conn.execute("SELECT id, name, description FROM products ORDER BY id"):
        digest.update(f"{row[0]}\x1f{row[1]}\x1f{len(row[2] or '')}\x1e".encode())
    return digest.hexdigest()[:16]


class ProductVectors:
    """Unit vectors of all products, searchable by cosine similarity."""

    @classmethod
    def of_store(cls, store: Store, ids: list[str], matrix: np.ndarray) -> ProductVectors:
        """Vectors computed elsewhere for ``store``'s products (``ids`` in matrix row order), marked
        current for that store so a search loads them instead of embedding again."""
        return cls(ids, matrix, table_fingerprint(store))

    def __init__(self, ids: list[str], matrix: np.ndarray, fingerprint: str = "") -> None:
        self.ids = ids
        self.matrix = matrix
        self.fingerprint = fingerprint
        self.row_of = {pid: i for i, pid in enumerate(ids)}
        self.index: Any = None  # FAISS index for large catalogues

    # -- building and persistence ----------------------------------------------------------
    @classmethod
    def build(cls, store: Store, encoder: TextEncoder, progress: bool = True, batch: int = 2048) -> ProductVectors:
        total = store.product_count()
        ids: list[str] = []
        chunks: list[np.ndarray] = []
        cursor = store.conn.execute("SELECT * FROM products ORDER BY id")
        with tqdm(total=total, desc="embedding products", unit="item", disable=not progress) as bar:
            while rows := cursor.fetchmany(batch):
                products = [product_from_row(r) for r in rows]
                ids += [p.id for p in products]
                chunks.append(encoder.encode([product_text(p) for p in products]))
                bar.update(len(rows))
        matrix = np.concatenate(chunks) if chunks else np.zeros((0, encoder.dimension), np.float32)
        vectors = cls(ids, matrix, table_fingerprint(store))
        vectors.build_index(progress)
        return vectors

    def build_index(self, progress: bool = False) -> None:
        if len(self.ids) <= ANN_THRESHOLD:
            self.index = None
            return
        import faiss

        index = faiss.IndexHNSWFlat(self.matrix.shape[1], HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        step = 50_000
        for begin in tqdm(range(0, len(self.ids), step), desc="ANN index", unit="chunk", disable=not progress):
            index.add(self.matrix[begin : begin + step])
        index.hnsw.efSearch = HNSW_SEARCH_DEPTH
        self.index = index

    @staticmethod
    def paths(db: Path) -> tuple[Path, Path]:
        return db.with_name(db.name + ".vectors.npz"), db.with_name(db.name + ".faiss")

    def save_file(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp.npz")  # write then rename: never half a file
        np.savez(tmp, matrix=self.matrix, ids=np.array(self.ids, dtype=object), fingerprint=self.fingerprint)
        os.replace(tmp, path)

    @classmethod
    def load_file(cls, path: Path) -> ProductVectors:
        data = np.load(path, allow_pickle=True)
        return cls([str(i) for i in data["ids"]], data["matrix"], str(data["fingerprint"]))

    def save(self, db: Path) -> None:
        vectors_path, index_path = self.paths(db)
        self.save_file(vectors_path)
        if self.index is not None:
            import faiss

            faiss.write_index(self.index, str(index_path))
        else:
            index_path.unlink(missing_ok=True)

    @classmethod
    def load(cls, db: Path) -> ProductVectors | None:
        vectors_path, index_path = cls.paths(db)
        if not vectors_path.exists():
            return None
        vectors = cls.load_file(vectors_path)
        if len(vectors.ids) > ANN_THRESHOLD:
            if index_path.exists():
                import faiss

                vectors.index = faiss.read_index(str(index_path))
                vectors.index.hnsw.efSearch = HNSW_SEARCH_DEPTH
            else:
                vectors.build_index()
        return vectors

    @classmethod
    def for_store(
        cls, store: Store, encoder: TextEncoder, progress: bool = True, cache_dir: Path | None = None
    ) -> ProductVectors:
        """The saved vectors of ``store`` if they are current, else built now and saved. Catalogues up
        to ANN_THRESHOLD products are also cached by content in ``cache_dir`` (default: the catalogue
        settings, SHOPKEEPER_CACHE or models/cache), so a rebuilt shop is not embedded again."""
        cache_dir = cache_dir or CatalogSettings.from_env().cache_dir
        db = Path(store.path)
        fingerprint = table_fingerprint(store)
        vectors = cls.load(db)
        if vectors is not None and vectors.fingerprint == fingerprint:
            return vectors
        cached = cache_dir / f"{fingerprint}.npz"
        if cached.exists():
            vectors = cls.load_file(cached)
        else:
            vectors = cls.build(store, encoder, progress)
            if len(vectors.ids) <= ANN_THRESHOLD:
                cache_dir.mkdir(parents=True, exist_ok=True)
                vectors.save_file(cached)
        vectors.save(db)
        return vectors

    # -- search ----------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` products most similar to ``query``, only from ``allowed`` when given."""
        if not self.ids or k <= 0:
            return []
        if allowed is not None:
            rows = np.fromiter((self.row_of[i] for i in allowed if i in self.row_of), dtype=np.int64)
            if len(rows) == 0:
                return []
            if self.index is None or len(rows) <= ANN_THRESHOLD:
                # Few candidates: exact scores on just those rows.
                return self._top(self.matrix[rows] @ query, k, rows)
        if self.index is not None:
            # Ask for more than k when filtering, since the index does not know the filters.
            wanted = k if allowed is None else min(len(self.ids), k * 20)
            scores, rows = self.index.search(query.reshape(1, -1), wanted)
            found = [(self.ids[r], float(s)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]
            if allowed is not None:
                found = [(pid, s) for pid, s in found if pid in allowed]
            return found[:k]
        return self._top(self.matrix @ query, k, None)

    def _top(self, scores: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[str, float]]:
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best])]
        return [(self.ids[int(rows[b] if rows is not None else b)], float(scores[b])) for b in best]

    def vector(self, product_id: str) -> np.ndarray | None:
        row = self.row_of.get(product_id)
        return None if row is None else self.matrix[row]
