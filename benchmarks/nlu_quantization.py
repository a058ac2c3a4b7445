"""Served NLU model, float32 vs int8: held-out accuracy and single-parse latency.

    python -m benchmarks.nlu_quantization [--model models/shopkeeper.tar.gz]

Takes the fine-tuned transformer out of a trained Rasa archive (what `make train` writes) and
runs the bot's held-out set (tests/nlu/dev.yml) through it twice: as trained, and with the
dynamic int8 quantisation the bot serves with (`quantize: true`). Writes
benchmarks/results/nlu_quantization.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, ROOT, command, machine, write_result
from benchmarks.nlu import BOT_SETS
from nlu.joint_model import JointModel
from nlu.metrics import intent_scores, percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "shopkeeper.tar.gz"))
    args = parser.parse_args()
    from rasa.shared.nlu.training_data.loading import load_data

    examples = load_data(str(BOT_SETS["dev"])).intent_examples
    texts, gold = [m.get("text") for m in examples], [m.get("intent") for m in examples]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(args.model) as archive:
            archive.extractall(tmp)
        folders = [p.parent for p in Path(tmp).rglob("meta.json")]
        if not folders:
            sys.exit(f"{args.model} has no transformer classifier in it.")
        for quantize in (False, True):
            model = JointModel.load(folders[0], threads=2, quantize=quantize)
            scores = intent_scores(gold, [p.intent for p in model.predict(texts)])
            latencies = []
            for text in texts[:5] + texts:  # the first five warm up
                started = time.perf_counter()
                model.predict([text])
                latencies.append((time.perf_counter() - started) * 1000)
            rows.append(("int8 (served)" if quantize else "float32", scores, latencies[5:]))
    lines = [
        "# Served NLU model: float32 vs int8",
        "",
        f"Command: `{command('benchmarks.nlu_quantization', '--model', os.path.relpath(args.model, ROOT))}`  ",
        f"Machine: {machine()}, 2 torch threads.  ",
        f"Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"Held-out set: {len(texts)} utterances (`tests/nlu/dev.yml`); latency is the model alone, "
        "one utterance at a time (the whole Rasa pipeline is timed in nlu.md).",
        "",
        "| weights | accuracy | macro-F1 | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, scores, latencies in rows:
        lines.append(
            f"| {name} | {100 * scores.accuracy:.1f} | {100 * scores.macro_f1:.1f} | "
            f"{percentile(latencies, 50):.1f} | {percentile(latencies, 95):.1f} |"
        )
    write_result(RESULTS / "nlu_quantization.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
