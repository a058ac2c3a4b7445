"""How long an audio window Whisper's encoder gets: WER and decode time per window length.

    python -m benchmarks.asr_window [--model tiny.en] [--windows 30,20,15,10,+3]

Whisper is trained on 30 s windows; the encoder's cost is fixed by the window, not by the speech
in it. Shorter windows (the speech padded to N seconds, N × 50 position embeddings) cost less; this
measures what they cost in accuracy, raw and with the product's fallback to 30 s for degenerate
transcripts. "+N" fits the window to each utterance: its speech plus N seconds, at most 15 s.
Sets as in benchmarks/asr.py (TTS held-out and tuning, real clean, real at 5 dB).
Results: benchmarks/results/asr_window.md.
"""

from __future__ import annotations

import statistics
import sys
import time

from benchmarks.asr import sweep_sets
from benchmarks.common import cpu_name, sweep_parser, write_result


def main() -> int:
    parser = sweep_parser(__doc__, "asr_window.md")
    parser.add_argument("--windows", default="30,20,15,10,+2,+3,+4")
    args = parser.parse_args()
    from tqdm import tqdm

    from voice import asr
    from voice.settings import DEFAULT_WINDOW_S
    from voice.wer import ErrorCount

    started = time.time()
    sets = sweep_sets()
    recognizer = asr.Recognizer(args.model, threads=2)
    rows = []
    for spec in args.windows.split(","):
        margin = float(spec[1:]) if spec.startswith("+") else None
        window = DEFAULT_WINDOW_S if margin is not None else float(spec)
        recognizer.window_s, recognizer.margin_s = window, margin
        name = f"speech + {margin:g} s (≤ {window:g} s)" if margin is not None else f"{window:g} s"
        for fallback in (False, True):
            if fallback and window >= asr.FULL_WINDOW_S:
                continue
            recognizer.fallback = fallback
            cells, times = [], []
            for group, items in sets.items():
                count = ErrorCount()
                for item in tqdm(
                    items, desc=f"{name}{' + fallback' if fallback else ''} {group}", leave=False, unit="utt"
                ):
                    transcript = recognizer.transcribe(item.samples)
                    count.add(item.text, transcript.raw_text)
                    times.append(transcript.decode_s)
                cells.append(f"{100 * count.wer:.1f}")
            label = name + (" + fallback to 30 s" if fallback else "")
            rows.append(f"| {label} | " + " | ".join(cells) + f" | {statistics.median(times):.2f} |")
            print(rows[-1], flush=True)
    lines = [
        "# Whisper window length",
        "",
        f"`python -m benchmarks.asr_window --model {args.model} --windows {args.windows}` on "
        f"{cpu_name()}, 2 torch threads; "
        f"took {(time.time() - started) / 60:.0f} min. Raw WER % (no catalogue correction); decode time "
        "is the median per utterance over all sets. Speech longer than the window minus 1 s always gets "
        "the full 30 s window.",
        "",
        "| window | " + " | ".join(sets) + " | decode p50 s |",
        "|---|" + "---|" * (len(sets) + 1),
        *rows,
    ]
    write_result(args.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
