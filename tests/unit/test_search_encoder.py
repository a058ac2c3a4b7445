"""The search encoder in ONNX Runtime (catalog/search/encoder_export.py, vectors.TextEncoder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from catalog.search.encoder_export import ensure_exported, export_folder, exported
from catalog.search.vectors import TextEncoder
from catalog.settings import CatalogSettings


def test_the_onnx_encoder_gives_the_sentence_models_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    from language.encoder import default_encoder_dir

    texts = ["rain jacket", "something to keep me dry on a rainy commute", "Trailhawk Tempo Running Shoes. footwear"]
    reference = SentenceTransformer(str(default_encoder_dir()), device="cpu").encode(texts, normalize_embeddings=True)
    encoder = TextEncoder()
    assert encoder.dimension == reference.shape[1] == 384
    assert np.min(np.sum(encoder.encode(texts) * reference, axis=1)) > 0.9999
    query = encoder.encode_query(texts[1])  # the int8 copy
    assert float(query @ reference[1]) > 0.98 and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    # Batches of mixed lengths come back in the order given.
    mixed = encoder.encode(texts[::-1] + texts, batch_size=2)
    assert np.allclose(mixed[:3], mixed[3:][::-1], atol=1e-5)
    assert "jacket" in encoder.words() and "##s" not in encoder.words()
    assert encoder.encode([]).shape == (0, 384)


def test_a_damaged_export_is_not_used(tmp_path: Path) -> None:
    good = ensure_exported(CatalogSettings.from_env().cache_dir)
    copy = export_folder(tmp_path)
    copy.parent.mkdir(parents=True)
    shutil.copytree(good, copy)
    assert exported(tmp_path) == copy
    for name in ("model.onnx", "model-int8.onnx"):
        original = (copy / name).read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
        (copy / name).write_bytes(bytes(data))
        assert exported(tmp_path) is None, name
        (copy / name).write_bytes(original)
        assert exported(tmp_path) == copy
    (copy / "model.onnx").unlink()
    assert exported(tmp_path) is None
