"""Brands heard as English words (voice/sound_alike.py): WER per similarity threshold.

    python -m benchmarks.asr_sound_alike [--model tiny.en]

The tuning parts are decoded once as the product decodes them (verified biasing on); then every
threshold corrects the same transcripts. The threshold is chosen on the tuning parts only: fewest
word errors among thresholds that change none of the bot's NLU training sentences (typed shopper
language with no misheard brand, so any change there is a false correction); ties go to the
stricter threshold. Held-out sets report what the choice does. Results:
benchmarks/results/asr_sound_alike.md.
"""

from __future__ import annotations

import sys
import time

from benchmarks.asr import real_items, real_tuning_items, tts_items
from benchmarks.common import DEMO_DB, ROOT, cpu_name, sweep_parser, write_result

THRESHOLDS = [0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9]


def nlu_sentences() -> list[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    return [m.get("text") for m in load_data(str(ROOT / "data" / "nlu")).intent_examples]


def main() -> int:
    parser = sweep_parser(__doc__, "asr_sound_alike.md")
    args = parser.parse_args()
    from tqdm import tqdm

    from voice.asr import Recognizer
    from voice.vocabulary import ShopCorrector
    from voice.wer import ErrorCount

    started = time.time()
    tuning = real_tuning_items()
    sets = {**tts_items("tune"), tuning[0].group: tuning, **tts_items("test"), "real, clean": real_items()}
    corrector = ShopCorrector(DEMO_DB)
    recognizer = Recognizer(args.model, threads=2, corrector=corrector)
    heard = {
        group: [
            (item.text, recognizer.transcribe(item.samples).raw_text)
            for item in tqdm(items, desc=group, leave=False, unit="utt")
        ]
        for group, items in sets.items()
    }
    typed = nlu_sentences()
    sound_alikes = corrector.sound_alikes
    rows = []
    for threshold in [*THRESHOLDS, None]:
        sound_alikes.threshold = threshold if threshold is not None else 2.0  # above any similarity: off
        false = sum(1 for text in typed if sound_alikes.correct(text)[1])
        counts = {}
        for group, pairs in heard.items():
            counts[group] = ErrorCount()
            for reference, raw in pairs:
                counts[group].add(reference, corrector.correct(raw)[0])
        tuning_errors = sum(c.errors for g, c in counts.items() if "tuning" in g)
        rows.append((threshold, false, tuning_errors, counts))
    allowed = [r for r in rows if r[0] is not None and r[1] == 0]
    chosen = min(allowed, key=lambda r: (r[2], -r[0]))[0] if allowed else None
    lines = [
        "# Brands heard as English words",
        "",
        f"`python -m benchmarks.asr_sound_alike --model {args.model}` on {cpu_name()}, 2 torch threads; "
        f"took {(time.time() - started) / 60:.0f} min. WER % after all corrections, transcripts from the "
        f"default recogniser (verified biasing on). *False* = NLU training sentences changed (of {len(typed)}). "
        f"Chosen on the tuning parts: **{chosen}**.",
        "",
        "| threshold | false | " + " | ".join(sets) + " |",
        "|---|---|" + "---|" * len(sets),
    ]
    for threshold, false, _, counts in rows:
        name = "off" if threshold is None else (f"**{threshold:g}**" if threshold == chosen else f"{threshold:g}")
        lines.append(f"| {name} | {false} | " + " | ".join(f"{100 * counts[g].wer:.1f}" for g in sets) + " |")
    write_result(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
