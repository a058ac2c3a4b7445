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

import sys
import time

from benchmarks.asr import sweep_row, sweep_sets, write_sweep
from benchmarks.common import cpu_name, sweep_parser


def main() -> int:
    parser = sweep_parser(__doc__, "asr_window.md")
    parser.add_argument("--windows", default="30,20,15,10,+2,+3,+4")
    args = parser.parse_args()
    from voice import asr
    from voice.settings import DEFAULT_WINDOW_S

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
            rows.append(sweep_row(name + (" + fallback to 30 s" if fallback else ""), recognizer, sets))
    intro = (
        f"`python -m benchmarks.asr_window --model {args.model} --windows {args.windows}` on "
        f"{cpu_name()}, 2 torch threads; "
        f"took {(time.time() - started) / 60:.0f} min. Raw WER % (no catalogue correction); decode time "
        "is the median per utterance over all sets. Speech longer than the window minus 1 s always gets "
        "the full 30 s window."
    )
    write_sweep(args.out, "Whisper window length", intro, "window", sets, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
