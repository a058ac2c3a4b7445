"""Speech to text with SpeechBrain's ``WhisperASR``, loaded from a local folder.

``Recognizer("tiny.en")`` prepares (once) and loads the Whisper folder built by
``voice.prepare``; any other value is a SpeechBrain model folder with a ``hyperparams.yaml``,
or, only with ``SHOPKEEPER_ALLOW_HUB=1``, a model hub id. The default comes from
``SHOPKEEPER_ASR_MODEL``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from voice.audio import SAMPLE_RATE, AudioError, trim_silence
from voice.prepare import WHEELS, prepare

DEFAULT_MODEL = os.environ.get("SHOPKEEPER_ASR_MODEL", "tiny.en")


@dataclass
class Transcript:
    text: str  # what the shop acts on (after domain correction)
    confidence: float  # geometric mean of token probabilities, 0..1
    language: str
    duration_s: float  # audio received
    speech_s: float  # audio left after trimming silence
    decode_s: float
    raw_text: str = ""  # what Whisper wrote, before correction
    corrections: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class ModelError(RuntimeError):
    """The speech model cannot be found or loaded; the message says what to do."""


def resolve_model(spec: str) -> Path | str:
    """A Whisper size, a local SpeechBrain folder, or (when allowed) a hub id."""
    if spec in WHEELS:
        return prepare(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "hyperparams.yaml").exists():
            raise ModelError(f"{path} has no hyperparams.yaml; it is not a SpeechBrain model folder")
        return path.resolve()
    if os.environ.get("SHOPKEEPER_ALLOW_HUB") == "1":
        return spec
    raise ModelError(f"ASR model {spec!r} is neither {' nor '.join(WHEELS)} nor a local folder; "
                     "set SHOPKEEPER_ALLOW_HUB=1 to let SpeechBrain fetch a hub id")


class Recognizer:
    """One loaded Whisper model. ``transcribe`` is thread-safe (calls are serialised)."""

    def __init__(self, model: str = DEFAULT_MODEL, threads: int | None = None, prompt: str | None = None,
                 corrector: object | None = None) -> None:
        import torch
        from speechbrain.inference.ASR import WhisperASR

        if threads:
            torch.set_num_threads(threads)
        self.name = model
        self.prompt = prompt
        self.corrector = corrector  # anything with .correct(text) -> (text, corrections)
        started = time.perf_counter()
        source = resolve_model(model)
        if isinstance(source, Path):
            # Local folder: SpeechBrain reads it in place; nothing is fetched.
            self.asr = WhisperASR.from_hparams(source=str(source), savedir=str(source),
                                               overrides={"model_dir": str(source)})
        else:
            self.asr = WhisperASR.from_hparams(source=source)
        self.whisper = self.asr.mods.whisper
        self.decoder = self.asr.mods.decoder
        self.language = getattr(self.whisper, "language", None) or "en"
        self._prompt_tokens = self._encode_prompt(prompt)
        self._lock = threading.Lock()
        self.load_s = time.perf_counter() - started

    def _encode_prompt(self, prompt: str | None) -> list[int]:
        if not prompt:
            return []
        return list(self.whisper.tokenizer.encode(" " + prompt.strip(), add_special_tokens=False))

    def transcribe(self, samples: np.ndarray, prompt: str | None = None) -> Transcript:
        """16 kHz mono float32 → text. Silence around the speech is trimmed first."""
        import torch

        duration = len(samples) / SAMPLE_RATE
        speech = trim_silence(samples)
        if len(speech) < SAMPLE_RATE * 0.1:
            return Transcript("", 0.0, self.language, duration, 0.0, 0.0)
        tokens = self._encode_prompt(prompt) if prompt is not None else self._prompt_tokens
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            self.decoder.set_prompt(tokens or None)
            wavs = torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32)).unsqueeze(0)
            encoded = self.asr.encode_batch(wavs, torch.tensor([1.0]))
            hyps, _, scores, _ = self.decoder(encoded, torch.tensor([1.0]))
            ids = [int(t) for t in hyps[0]]
            raw = self.whisper.tokenizer.decode(ids, skip_special_tokens=True).strip()
        elapsed = time.perf_counter() - started
        confidence = math.exp(float(scores.reshape(-1)[0]) / (len(ids) + 1)) if ids else 0.0
        text, corrections = raw, []
        if self.corrector is not None and raw:
            text, found = self.corrector.correct(raw)  # type: ignore[attr-defined]
            corrections = [(c.heard, c.meant) for c in found]
        return Transcript(text, round(confidence, 3), self.language, round(duration, 3),
                          round(len(speech) / SAMPLE_RATE, 3), round(elapsed, 3), raw, corrections)

    def transcribe_file(self, path: str | os.PathLike[str]) -> Transcript:
        from voice.audio import load_file

        return self.transcribe(load_file(path).samples)


__all__ = ["AudioError", "ModelError", "Recognizer", "Transcript", "resolve_model"]
