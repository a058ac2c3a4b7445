"""Catalogue biasing during decoding (voice/biasing.py): WER per bonus and accepted cost.

    python -m benchmarks.asr_biasing [--model tiny.en]

For every utterance the recogniser decodes once plainly and once with the bonus, and scores the
biased proposal under the plain model (its cost, in nats). A proposal is kept when its cost is at
most the accepted cost, so one pass per bonus setting scores every cost. The setting is chosen on
the tuning parts only (the TTS tuning voices and sentences, and real digits from speakers outside
the real set): fewest word errors there, ties going to the smaller bonus, then the smaller cost.
The held-out TTS voices and the real recordings report what the choice does.
WER % after catalogue correction, as the product runs. Results: benchmarks/results/asr_biasing.md.
"""

from __future__ import annotations

import math
import sys
import time

from benchmarks.asr import real_tuning_items, sweep_sets
from benchmarks.common import DEMO_DB, cpu_name, sweep_parser, write_result

BONUSES = [(1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]  # (start, continue)
COSTS = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, math.inf]  # accepted cost, nats; inf = the bonus alone


def main() -> int:
    parser = sweep_parser(__doc__, "asr_biasing.md")
    args = parser.parse_args()
    from tqdm import tqdm

    from voice.asr import Recognizer
    from voice.vocabulary import ShopCorrector
    from voice.wer import ErrorCount

    started = time.time()
    tuning = real_tuning_items()
    sets = {**sweep_sets(), tuning[0].group: tuning}
    tuning_groups = [g for g in sets if "tuning" in g]
    corrector = ShopCorrector(DEMO_DB)
    recognizer = Recognizer(args.model, threads=2, corrector=corrector, bias=True)
    assert recognizer.bias is not None
    recognizer.bias.max_cost = -math.inf  # keep the plain transcript; the proposal and its cost come alongside
    rows: list[tuple[str, dict[str, float], int]] = []  # (setting, WER per set, errors on the tuning parts)
    plain: dict[str, float] = {}
    for start, cont in BONUSES:
        recognizer.bias.start_bonus, recognizer.bias.continue_bonus = start, cont
        heard: dict[str, list[tuple[str, str, str, float | None]]] = {}
        for group, items in sets.items():
            for item in tqdm(items, desc=f"bonus {start:g}/{cont:g} {group}", leave=False, unit="utt"):
                t = recognizer.transcribe(item.samples)
                heard.setdefault(group, []).append((item.text, t.raw_text, t.biased_text, t.bias_cost))
        for cost in [None, *COSTS]:
            wers, tuning_errors = {}, 0
            for group, results in heard.items():
                count = ErrorCount()
                for reference, raw, biased, bias_cost in results:
                    keep = cost is not None and bias_cost is not None and bias_cost <= cost
                    count.add(reference, corrector.correct(biased if keep else raw)[0])
                wers[group] = count.errors / count.words
                tuning_errors += count.errors if group in tuning_groups else 0
            if cost is None:
                plain = wers
            else:
                label = f"start {start:g}, continue {cont:g}, cost ≤ {'any' if math.isinf(cost) else f'{cost:g}'}"
                rows.append((label, wers, tuning_errors))
                print(label, {g: f"{100 * w:.1f}" for g, w in wers.items()}, flush=True)
    chosen = min(rows, key=lambda row: row[2])[0]  # the first of equals: rows go from mild to strong
    table = [("off", plain), *((label, wers) for label, wers, _ in rows)]
    lines = [
        "# Catalogue biasing during decoding",
        "",
        f"`python -m benchmarks.asr_biasing --model {args.model}` on {cpu_name()}, 2 torch threads; "
        f"took {(time.time() - started) / 60:.0f} min. WER % after catalogue correction; "
        f"{len(corrector.terms)} names (brands and product types). Bonuses are added to the logits of "
        "a name's first token (start) and of tokens continuing a name (continue); the biased transcript "
        "is kept when plain Whisper finds it at most *cost* nats less likely than its own. "
        f"Fewest word errors over the tuning parts (ties to the milder setting): **{chosen}**.",
        "",
        "| setting | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for label, wers in table:
        name = f"**{label}**" if label == chosen else label
        lines.append(f"| {name} | " + " | ".join(f"{100 * wers[g]:.1f}" for g in sets) + " |")
    write_result(args.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
