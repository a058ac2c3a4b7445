"""Catalogue biasing during decoding (voice/biasing.py): WER with and without, per bonus setting.

    python benchmarks/asr_biasing.py [--model tiny.en]

Settings are chosen on the tuning part of the speech set only; the held-out TTS voices and the
real recordings (clean and at 5 dB, where false names would show up) report what the choice does.
WER % after catalogue correction, as the product runs. Results: benchmarks/results/asr_biasing.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asr import sweep_sets  # noqa: E402 - the sibling benchmark (ROOT has no asr module to shadow it)

SETTINGS = [(0.0, 0.0), (0.0, 2.0), (0.0, 4.0), (1.0, 2.0), (1.5, 4.0), (2.0, 3.0)]  # (start, continue)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "asr_biasing.md")
    args = parser.parse_args()
    from tqdm import tqdm

    from voice.asr import Recognizer
    from voice.biasing import CatalogueBias
    from voice.vocabulary import ShopCorrector
    from voice.wer import ErrorCount

    started = time.time()
    sets = sweep_sets()
    corrector = ShopCorrector(ROOT / "catalog" / "shop.db")
    recognizer = Recognizer(args.model, threads=2, corrector=corrector, bias=False)
    bias = CatalogueBias(lambda text: recognizer.whisper.tokenizer.encode(text, add_special_tokens=False),
                         corrector.terms)
    bias.attach(recognizer.decoder)
    rows = []
    for start, cont in SETTINGS:
        bias.start_bonus, bias.continue_bonus = start, cont
        cells = []
        for group, items in sets.items():
            count = ErrorCount()
            for item in tqdm(items, desc=f"start {start} continue {cont} {group}", leave=False, unit="utt"):
                count.add(item.text, recognizer.transcribe(item.samples).text)
            cells.append(f"{100 * count.wer:.1f}")
        label = "off" if start == cont == 0 else f"start {start:g}, continue {cont:g}"
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    lines = ["# Catalogue biasing during decoding", "",
             f"`python benchmarks/asr_biasing.py --model {args.model}` on {platform.machine()}, 2 torch threads; "
             f"took {(time.time() - started) / 60:.0f} min. WER % after catalogue correction; "
             f"{len(corrector.terms)} names (brands and product types). Bonuses are added to the logits of "
             "a name's first token (start) and of tokens continuing a name (continue); chosen on the tuning "
             "part only.", "",
             "| bonus | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets), *rows]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
