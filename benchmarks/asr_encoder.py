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
import sys
import time

from benchmarks.asr import sweep_row, sweep_sets, write_sweep
from benchmarks.common import cpu_name, sweep_parser

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
    started = time.time()
    sets = sweep_sets()
    rows = []
    for encoder in args.encoders.split(","):
        if encoder not in ENCODERS:
            raise SystemExit(f"unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
        rows.append(sweep_row(encoder, recognizer(args.model, encoder), sets))
    intro = (
        f"`python -m benchmarks.asr_encoder --model {args.model} --encoders {args.encoders}` on "
        f"{cpu_name()}, 2 threads; took {(time.time() - started) / 60:.0f} min. Raw WER % (no catalogue "
        "correction, no biasing); decode time is the median per utterance over all sets (encoder and "
        "greedy decoder), one process."
    )
    write_sweep(args.out, "Whisper's encoder: torch, ONNX Runtime, int8", intro, "encoder", sets, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
