"""Dense product vectors for semantic search: all-MiniLM-L6-v2 sentence embeddings in ONNX Runtime, offline.

Every product is embedded once (name, type, brand, colours, start of the description) and the
unit-length vectors are saved next to the database (``shop.db.vectors.npz``). A query is embedded
on the fly and compared by cosine similarity: exactly (one matrix product) up to
``ANN_THRESHOLD`` products, through a FAISS HNSW index above that (built once, saved as
``shop.db.faiss``). A fingerprint of the product table says when the files are stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from catalog.models import Product
from catalog.search.encoder_export import ensure_exported
from catalog.settings import CatalogSettings
from catalog.store import Store, product_from_row

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
    """Sentence embeddings from all-MiniLM-L6-v2 in ONNX Runtime (``encoder_export.py`` makes the
    file once, offline): tokens, the network, mean pooling over the real tokens, unit length."""

    def __init__(self, cache_dir: Path | None = None, threads: int = 2) -> None:
        from tokenizers import Tokenizer

        self.folder = ensure_exported(cache_dir or CatalogSettings.from_env().cache_dir)
        self.threads = threads
        self.max_tokens = int(json.loads((self.folder / "export.json").read_text())["max_tokens"])
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        # A search embeds one short query with the int8 copy while BM25 runs in SQLite on the other
        # core: one thread each. Products are embedded in full precision with every thread, in a
        # session opened when a catalogue is embedded.
        self._query_session = self._open("model-int8.onnx", 1)
        self._bulk_session: Any = None
        self.dimension = int(self._query_session.get_outputs()[0].shape[-1] or 384)

    def _open(self, name: str, threads: int) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle pool threads must not spin: BM25 and the other session need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(self.folder / name), options, providers=["CPUExecutionProvider"])

    def words(self) -> set[str]:
        """Whole English words the encoder's tokenizer knows: real words, never "corrected"."""
        return {w for w in self.tokenizer.get_vocab() if w.isalpha() and len(w) > 1}

    def _embed(self, session: Any, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        vectors = summed / mask.sum(axis=1, keepdims=True)  # mean pooling, as the sentence model does
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return (vectors / norms).astype(np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 16, progress: bool = False) -> np.ndarray:
        """Unit vectors of many texts, in their order. Texts of similar length share a batch, so
        little of each batch is padding (16 a batch: 133 products/s on 2 cores, 123 with 32)."""
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        if self._bulk_session is None:
            self._bulk_session = self._open("model.onnx", self.threads)
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), np.float32)
        starts = range(0, len(texts), batch_size)
        for begin in tqdm(starts, desc="embedding", unit="batch", disable=not progress):
            rows = order[begin : begin + batch_size]
            out[rows] = self._embed(self._bulk_session, [texts[i] for i in rows])
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One shopper query: the int8 copy on one thread (the other is BM25's)."""
        return self._embed(self._query_session, [text])[0]


def _finished_batches(folder: Path, fingerprint: str) -> tuple[list[str], list[np.ndarray]]:
    """The batches an interrupted build kept in ``folder``, when they belong to this product table."""
    ids: list[str] = []
    chunks: list[np.ndarray] = []
    try:
        if (folder / "fingerprint").read_text() != fingerprint:
            raise ValueError("another catalogue")
        for path in sorted(folder.glob("[0-9]*[0-9].npz")):
            data = np.load(path)
            ids += [str(i) for i in data["ids"]]
            chunks.append(data["matrix"])
    except (OSError, ValueError, KeyError):
        shutil.rmtree(folder, ignore_errors=True)  # nothing to go on from: start again
        return [], []
    return ids, chunks


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
    def build(
        cls, store: Store, encoder: TextEncoder, progress: bool = True, batch: int = 2048, resume: Path | None = None
    ) -> ProductVectors:
        """Embed every product, ``batch`` at a time. With ``resume`` (a folder), each finished batch is
        kept there, so an interrupted import goes on where it stopped instead of starting again; the
        folder is removed once all is done."""
        total = store.product_count()
        fingerprint = table_fingerprint(store)
        ids, chunks = _finished_batches(resume, fingerprint) if resume else ([], [])
        if resume:
            resume.mkdir(parents=True, exist_ok=True)
            (resume / "fingerprint").write_text(fingerprint)
        # Products in id order: the batches already kept are the first ones.
        cursor = store.conn.execute("SELECT * FROM products ORDER BY id LIMIT -1 OFFSET ?", (len(ids),))
        with tqdm(total=total, initial=len(ids), desc="embedding products", unit="item", disable=not progress) as bar:
            while rows := cursor.fetchmany(batch):
                products = [product_from_row(r) for r in rows]
                matrix = encoder.encode([product_text(p) for p in products])
                if resume:
                    temporary = resume / f"{len(chunks):06d}.tmp.npz"
                    np.savez(temporary, ids=np.array([p.id for p in products]), matrix=matrix)
                    os.replace(temporary, resume / f"{len(chunks):06d}.npz")  # a batch is kept whole or not at all
                ids += [p.id for p in products]
                chunks.append(matrix)
                bar.update(len(rows))
        matrix = np.concatenate(chunks) if chunks else np.zeros((0, encoder.dimension), np.float32)
        vectors = cls(ids, matrix, fingerprint)
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
        unfinished = db.with_name(db.name + ".vectors.partial")  # batches an interrupted build kept
        fingerprint = table_fingerprint(store)
        vectors = cls.load(db)
        if vectors is not None and vectors.fingerprint == fingerprint:
            return vectors
        cached = cache_dir / f"{fingerprint}.npz"
        if cached.exists():
            vectors = cls.load_file(cached)
        else:
            vectors = cls.build(store, encoder, progress, resume=unfinished)
            if len(vectors.ids) <= ANN_THRESHOLD:
                cache_dir.mkdir(parents=True, exist_ok=True)
                vectors.save_file(cached)
        vectors.save(db)
        shutil.rmtree(unfinished, ignore_errors=True)
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
