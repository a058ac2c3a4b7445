"""How fast search starts and embeds: a cold ``python -m catalog search``, one query's embedding,
and a catalogue's products embedded in bulk, for the ONNX Runtime encoder the shop ships and the
sentence-transformers (PyTorch) encoder it replaced, in the same run.

    python -m benchmarks.search_startup
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

import numpy as np
import yaml

from benchmarks.common import DEMO_DB, RESULTS, ROOT, command, machine, write_result
from catalog import Store, TextEncoder, product_text

COLD_RUNS = 5
PRODUCTS = 800  # of the demo shop, embedded by each encoder


class TorchEncoder:
    """The encoder as it was: sentence-transformers on PyTorch, 2 threads, int8 copy for queries."""

    def __init__(self) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        from language.encoder import default_encoder_dir

        torch.set_num_threads(2)
        self.model = SentenceTransformer(str(default_encoder_dir()), device="cpu")
        self.query_model = quantize_dynamic(
            self.model[0].auto_model, {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=False
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts, batch_size=64, normalize_embeddings=True))

    def encode_query(self, text: str) -> np.ndarray:
        import torch

        batch = self.model[0].tokenizer([text], return_tensors="pt")
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                hidden = self.query_model(**batch).last_hidden_state[0]
        finally:
            torch.set_num_threads(2)
        vector = hidden.mean(dim=0).numpy()
        return vector / np.linalg.norm(vector)


def cold_search(query: str) -> list[float]:
    seconds = []
    for _ in range(COLD_RUNS):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "catalog", "search", "--db", str(DEMO_DB), "--json", "--limit", "5", query],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        seconds.append(time.perf_counter() - began)
    return seconds


def measure(encoder: Any, queries: list[str], texts: list[str]) -> dict[str, float]:
    encoder.encode_query(queries[0])  # first call pays one-off set-up
    times = []
    for text in queries:
        began = time.perf_counter()
        encoder.encode_query(text)
        times.append((time.perf_counter() - began) * 1000)
    began = time.perf_counter()
    vectors = encoder.encode(texts)
    bulk = time.perf_counter() - began
    return {
        "query_p50_ms": float(np.percentile(times, 50)),
        "query_p95_ms": float(np.percentile(times, 95)),
        "products_per_s": len(texts) / bulk,
        "vectors": vectors,
    }


def main() -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    judged = yaml.safe_load((ROOT / "benchmarks" / "data" / "search_judgments.yml").read_text())["queries"]
    queries = [q["query"] for q in judged] + [v for q in judged for v in q.get("variants", [])]
    store = Store(DEMO_DB)
    texts = [product_text(p) for p in store.products(store.product_ids()[:PRODUCTS])]
    cold = cold_search("waterproof rain jacket")
    began = time.perf_counter()
    onnx = measure(TextEncoder(), queries, texts)
    onnx["load_s"] = time.perf_counter() - began - len(texts) / onnx["products_per_s"]
    began = time.perf_counter()
    torch = measure(TorchEncoder(), queries, texts)
    torch["load_s"] = time.perf_counter() - began - len(texts) / torch["products_per_s"]
    agreement = float(np.min(np.sum(onnx.pop("vectors") * torch.pop("vectors"), axis=1)))
    lines = [
        "# Search start-up and embedding speed",
        "",
        f"Command: `{command('benchmarks.search_startup')}`  ",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Cold `python -m catalog search --db catalog/shop.db --json` (a new process each time, the demo "
        f"shop, {COLD_RUNS} runs): median {np.median(cold):.2f} s, slowest {max(cold):.2f} s.",
        "",
        f"Queries: the {len(queries)} judged queries and their variants (benchmarks/data/search_judgments.yml), "
        f"one thread. Products: the first {len(texts)} of the demo shop, 2 threads.",
        "",
        "| encoder | load + first query s | query p50 ms | p95 ms | products embedded per s |",
        "|---|---|---|---|---|",
    ]
    for name, row in (("ONNX Runtime (shipped)", onnx), ("sentence-transformers, PyTorch (before)", torch)):
        lines.append(
            f"| {name} | {row['load_s']:.2f} | {row['query_p50_ms']:.1f} | {row['query_p95_ms']:.1f} | "
            f"{row['products_per_s']:.0f} |"
        )
    lines += ["", f"Product vectors of the two encoders: lowest cosine {agreement:.5f}."]
    text = "\n".join(lines)
    write_result(RESULTS / "search_startup.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
