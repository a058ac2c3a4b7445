"""The search encoder as an ONNX file: exported once from the local all-MiniLM-L6-v2 weights.

Search used to load sentence-transformers and PyTorch in every process (about 9 s of a cold
``python -m catalog search`` on 2 cores). ONNX Runtime and the tokenizers library load the same
network in a fraction of a second. The export needs PyTorch and runs once, offline, from the
sha256-checked weights (``language/encoder.py``). It is checked against PyTorch's own output
before it is kept, and kept with its sha256, so a damaged file is made again and never used.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from language.encoder import DEFAULT_WEIGHTS_SHA256, default_encoder_dir, file_sha256, offline_environment

EXPORT_VERSION = 2  # bump when the export itself changes: old files are then made again
ONNX_OPSET = 17
CHECK_TEXTS = ["rain jacket", "something to keep me dry on a rainy commute", "Halden Coral Rain Jacket. apparel"]
MAX_DIFFERENCE = 1e-3  # largest allowed gap to PyTorch's hidden states


def export_folder(cache_dir: Path) -> Path:
    return cache_dir / "encoder" / f"all-minilm-l6-v2-{DEFAULT_WEIGHTS_SHA256[:12]}-v{EXPORT_VERSION}"


def exported(cache_dir: Path) -> Path | None:
    """The folder holding ``model.onnx``, ``model-int8.onnx`` and ``tokenizer.json`` when a checked
    export is there."""
    folder = export_folder(cache_dir)
    try:
        stamp = json.loads((folder / "export.json").read_text())
        if (folder / "tokenizer.json").exists() and all(
            file_sha256(folder / name) == digest for name, digest in stamp["sha256"].items()
        ):
            return folder
    except (OSError, ValueError, KeyError):
        pass
    return None


def ensure_exported(cache_dir: Path) -> Path:
    """The export folder, made now (about 5 s, once) when missing or damaged."""
    return exported(cache_dir) or export(cache_dir)


def export(cache_dir: Path) -> Path:
    offline_environment(allow_network=False)
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = default_encoder_dir()
    folder = export_folder(cache_dir)
    print(f"exporting the search encoder to ONNX once: {folder}", file=sys.stderr, flush=True)
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    class HiddenStates(torch.nn.Module):
        """Keyword arguments in, the last hidden states out: what the ONNX graph computes."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
            return out.last_hidden_state

    model = HiddenStates(AutoModel.from_pretrained(str(source))).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    batch = tokenizer(CHECK_TEXTS, padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(
            model,
            (batch["input_ids"], batch["attention_mask"]),
            str(work / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        expected = model(batch["input_ids"], batch["attention_mask"]).numpy()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(work / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: batch[k].numpy() for k in ("input_ids", "attention_mask")})[0]
    gap = float(np.abs(np.asarray(got) - expected).max())
    if gap > MAX_DIFFERENCE:
        raise RuntimeError(f"the ONNX export differs from PyTorch by {gap:.2g}; not kept")
    # Queries run an int8 copy (weights per output channel): 1.4 ms instead of 4 ms on one core, its
    # vectors 0.994 cosine to the full model's; products keep full precision.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(work / "model.onnx", work / "model-int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
    shutil.copy(source / "tokenizer.json", work / "tokenizer.json")
    config = json.loads((source / "sentence_bert_config.json").read_text())
    digests = {name: file_sha256(work / name) for name in ("model.onnx", "model-int8.onnx")}
    stamp = {"sha256": digests, "max_tokens": config["max_seq_length"], "max_gap": gap}
    (work / "export.json").write_text(json.dumps(stamp, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)
    return folder
