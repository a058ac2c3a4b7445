"""Parse latency of a trained bot archive, one held-out message at a time, as `rasa run` serves them.

    python -m benchmarks.nlu_parse_latency [models/shopkeeper.tar.gz]

Needs no training (benchmarks/nlu.py retrains both pipelines to compare them); the numbers go to
benchmarks/results/nlu_parse_latency.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, command, machine, write_result
from benchmarks.nlu import RasaNLU, heldout
from nlu.metrics import percentile


def main() -> None:
    archive = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "models" / "shopkeeper.tar.gz"
    texts, _, _ = heldout()
    served = RasaNLU(archive.name, str(archive))
    served.parse(texts[:20], "warm-up")
    _, latencies = served.parse(texts, "held-out")
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    line = f"{len(texts)} held-out utterances through {archive.name}: parse p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    print(line)
    write_result(
        RESULTS / "nlu_parse_latency.md",
        f"# Bot NLU parse latency\n\nCommand: `{command('benchmarks.nlu_parse_latency', *sys.argv[1:])}`  \n"
        f"Machine: {machine()}; date {time.strftime('%Y-%m-%d')}\n\n{line}\n",
    )


if __name__ == "__main__":
    main()
