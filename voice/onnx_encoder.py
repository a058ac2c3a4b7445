"""Whisper's encoder in ONNX Runtime: the same weights and arithmetic as torch, in less time.

On 2 CPU cores torch's eager encoder is about half of a spoken turn's decode for base's 15 s
window; ONNX Runtime fuses the attention and layer norms and writes the same float32 output, so a
whole decode (encoder and decoder) goes from 0.41 s to 0.31 s at the median with the same WER on
every set (benchmarks/results/asr_encoder.md). Nothing is quantised: int8 was faster still but
cost up to 3.3 WER points on real speech.

The graph is exported once from the prepared Whisper folder's own weights, for one window length
(the encoder's input length is fixed by its position table), and kept next to them as
``encoder-<frames>.onnx``; re-preparing the folder removes it. Other windows (Whisper's full 30 s
fallback) stay on torch.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger(__name__)


def encoder_file(folder: Path, frames: int) -> Path:
    """Where the encoder for ``frames`` log-mel frames (100 per second) of a model folder is kept."""
    return folder / f"encoder-{frames}.onnx"


class _LastHidden(torch.nn.Module):
    """The encoder as a plain tensor-in, tensor-out module (what the exporter can trace)."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.encoder(mel).last_hidden_state


def export(encoder: torch.nn.Module, mel: torch.Tensor, path: Path) -> Path:
    """Trace ``encoder`` on ``mel`` (1 × mel bins × frames) into ``path``, written whole or not at all."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")  # two processes may export at once
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on HF's shape checks, constant in one window
        torch.onnx.export(
            _LastHidden(encoder).eval(),
            (mel,),
            str(partial),
            input_names=["mel"],
            output_names=["hidden"],
            opset_version=17,
            dynamo=False,
        )
    os.replace(partial, path)
    return path


class OnnxEncoder:
    """One exported encoder, run on ``threads`` CPU threads."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.frames = int(shape[-1])

    def __call__(self, mel: torch.Tensor) -> torch.Tensor:
        (hidden,) = self.session.run(None, {"mel": np.ascontiguousarray(mel.numpy(), dtype=np.float32)})
        return torch.from_numpy(hidden)


def load_or_export(folder: Path, encoder: torch.nn.Module, mel: torch.Tensor, threads: int) -> OnnxEncoder:
    """The folder's encoder for ``mel``'s length, exported first if it is not there yet."""
    path = encoder_file(folder, int(mel.shape[-1]))
    if not path.exists():
        log.info("exporting Whisper's encoder to %s (once)", path)
        export(encoder, mel, path)
    return OnnxEncoder(path, threads)
