"""How Whisper's encoder runs: WER and decode time with torch, ONNX Runtime and int8 weights.

    python -m benchmarks.asr_encoder --model base [--encoders torch,onnx,int8,int8-channel]

The encoder is about half of a spoken turn's decode on 2 cores, so it is where the time from the
shopper's last word goes (issue 22). Compared on the sets the setting sweeps score (benchmarks/asr.py:
TTS tuning and development parts, real speech clean and at 5 dB):
- torch: the eager float32 encoder (SHOPKEEPER_ASR_ONNX=0);
- onnx: the same weights exported to ONNX Runtime (voice/onnx_encoder.py, the product's default);
- int8 / int8-channel: torch's dynamic int8 quantisation of every linear layer of encoder and
  decoder, one scale per weight tensor or per output channel.
Raw WER (no catalogue correction, no biasing); decode time is the median per utterance over all
sets, in one process on this machine. Results: benchmarks/results/asr_encoder.md.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

from benchmarks.asr import sweep_sets
from benchmarks.common import cpu_name, sweep_parser, write_result

ENCODERS = ("torch", "onnx", "int8", "int8-channel")


def recognizer(model: str, encoder: str) -> object:
    import torch

    from voice.asr import Recognizer
    from voice.settings import VoiceSettings

    settings = dataclasses.replace(VoiceSettings.from_env(), onnx_encoder=encoder == "onnx")
    loaded = Recognizer(model, threads=2, bias=False, settings=settings)
    if encoder.startswith("int8"):
        from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

        qconfig = per_channel_dynamic_qconfig if encoder == "int8-channel" else default_dynamic_qconfig
        # In place: the recogniser's stop hooks stay on the same layers.
        torch.ao.quantization.quantize_dynamic(
            loaded.whisper.model, {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=True
        )
    loaded.warm_up()
    return loaded


def main() -> int:
    parser = sweep_parser(__doc__, "asr_encoder.md")
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    args = parser.parse_args()
    from tqdm import tqdm

    from voice.wer import ErrorCount

    started = time.time()
    sets = sweep_sets()
    rows = []
    for encoder in args.encoders.split(","):
        if encoder not in ENCODERS:
            raise SystemExit(f"unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
        asr = recognizer(args.model, encoder)
        cells, times = [], []
        for group, items in sets.items():
            count = ErrorCount()
            for item in tqdm(items, desc=f"{encoder} {group}", leave=False, unit="utt"):
                transcript = asr.transcribe(item.samples, biased=False)  # type: ignore[attr-defined]
                count.add(item.text, transcript.raw_text)
                times.append(transcript.decode_s)
            cells.append(f"{100 * count.wer:.1f}")
        rows.append(f"| {encoder} | " + " | ".join(cells) + f" | {statistics.median(times):.3f} |")
        print(rows[-1], flush=True)
        del asr
    lines = [
        "# Whisper's encoder: torch, ONNX Runtime, int8",
        "",
        f"`python -m benchmarks.asr_encoder --model {args.model} --encoders {args.encoders}` on "
        f"{cpu_name()}, 2 threads; took {(time.time() - started) / 60:.0f} min. Raw WER % (no catalogue "
        "correction, no biasing); decode time is the median per utterance over all sets (encoder and "
        "greedy decoder), one process.",
        "",
        "| encoder | " + " | ".join(sets) + " | decode p50 s |",
        "|---|" + "---|" * (len(sets) + 1),
        *rows,
    ]
    write_result(args.out, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
