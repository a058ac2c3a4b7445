"""Parse latency of a trained bot archive, one held-out message at a time, as `rasa run` serves them.

    python benchmarks/nlu_parse_latency.py [models/shopkeeper.tar.gz]

Needs no training (benchmarks/nlu.py retrains both pipelines to compare them); the numbers go to
benchmarks/results/nlu_parse_latency.md.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    archive = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "shopkeeper.tar.gz"
    # benchmarks/nlu.py would shadow the nlu package if imported by name.
    spec = importlib.util.spec_from_file_location("nlu_benchmark", ROOT / "benchmarks" / "nlu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    texts, _, _ = bench.heldout()
    served = bench.RasaNLU(archive.name, str(archive))
    served.parse(texts[:20], "warm-up")
    _, latencies = served.parse(texts, "held-out")
    p50, p95 = bench.percentile(latencies, 50), bench.percentile(latencies, 95)
    line = f"{len(texts)} held-out utterances through {archive.name}: parse p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    print(line)
    out = ROOT / "benchmarks" / "results" / "nlu_parse_latency.md"
    out.write_text(f"# Bot NLU parse latency\n\nCommand: `python benchmarks/nlu_parse_latency.py`  \n"
                   f"Machine: {platform.machine()}, {os.cpu_count()} cores; date {time.strftime('%Y-%m-%d')}\n\n"
                   f"{line}\n")


if __name__ == "__main__":
    main()
