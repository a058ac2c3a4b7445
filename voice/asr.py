"""Speech to text with SpeechBrain's ``WhisperASR``, loaded from a local folder.

``Recognizer("tiny.en")`` prepares (once) and loads the Whisper folder built by
``voice.prepare``; any other value is a SpeechBrain model folder with a ``hyperparams.yaml``,
or, only with ``SHOPKEEPER_ALLOW_HUB=1``, a model hub id. The default comes from
``SHOPKEEPER_ASR_MODEL``.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voice.audio import SAMPLE_RATE, AudioError, trim_silence
from voice.prepare import WHEELS, prepare

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = os.environ.get("SHOPKEEPER_ASR_MODEL", "tiny.en")
# Whisper is trained on 30 s windows, but its encoder costs the same for 3 s of speech padded to
# 30 s. A 15 s window halves that cost with no loss on our speech sets
# (benchmarks/results/asr_window.md); 10 s starts to hallucinate. Utterances longer than the window
# fall back to the full 30 s.
DEFAULT_WINDOW_S = float(os.environ.get("SHOPKEEPER_ASR_WINDOW_S", "15"))
FULL_WINDOW_S = 30.0
# Shop names can get a bonus during decoding (voice/biasing.py; needs a catalogue corrector).
# Off by default: it fixes brand names (held-out TTS WER 17.2 -> 12.0 %) but puts names into
# ordinary speech (real clean 15.1 -> 17.0 %), benchmarks/results/asr_biasing.md.
BIAS_DEFAULT = os.environ.get("SHOPKEEPER_ASR_BIAS", "0") == "1"
ENCODER_FRAMES_PER_S = 50  # 100 mel frames per second, halved by the encoder's strided conv


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


def looks_degenerate(text: str, speech_s: float) -> bool:
    """A transcript that repeats itself (Whisper's compression-ratio test), has more words than
    anyone says in that time, or lost the number after a currency sign."""
    if not text:
        return False
    data = text.encode("utf-8")
    too_repetitive = len(data) > 40 and len(data) / len(zlib.compress(data)) > 2.4
    too_many_words = len(text.split()) > 5 * speech_s + 5
    lost_amount = re.search(r"[$£€](?!\s?\d)", text) is not None  # "under $ $": the number went missing
    return too_repetitive or too_many_words or lost_amount


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
                 corrector: object | None = None, window_s: float = DEFAULT_WINDOW_S,
                 bias: bool = BIAS_DEFAULT) -> None:
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
        self.window_s = min(max(window_s, 1.0), FULL_WINDOW_S)
        self.fallback = True  # redo a degenerate short-window transcript with the full window
        terms = getattr(corrector, "terms", None)
        if bias and terms:
            from voice.biasing import CatalogueBias

            CatalogueBias(lambda text: self.whisper.tokenizer.encode(text, add_special_tokens=False),
                          terms).attach(self.decoder)
        full = self.whisper.model.encoder.embed_positions
        self._embeddings = {full.num_embeddings: full}  # position table per window length, made once
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
            speech_s = len(speech) / SAMPLE_RATE
            window = self._window_for(speech_s)
            ids, scores, raw = self._decode(wavs, window)
            if self.fallback and window < FULL_WINDOW_S and looks_degenerate(raw, speech_s):
                # Short windows in heavy noise sometimes loop on a phrase; the full window rarely does.
                ids, scores, raw = self._decode(wavs, FULL_WINDOW_S)
        elapsed = time.perf_counter() - started
        confidence = math.exp(float(scores.reshape(-1)[0]) / (len(ids) + 1)) if ids else 0.0
        text, corrections = raw, []
        if self.corrector is not None and raw:
            text, found = self.corrector.correct(raw)  # type: ignore[attr-defined]
            corrections = [(c.heard, c.meant) for c in found]
        return Transcript(text, round(confidence, 3), self.language, round(duration, 3),
                          round(speech_s, 3), round(elapsed, 3), raw, corrections)

    def warm_up(self) -> None:
        """One decode of quiet noise, so the first shopper does not pay torch's first-call setup."""
        import torch

        noise = np.random.default_rng(0).normal(0, 1e-3, SAMPLE_RATE).astype(np.float32)
        with self._lock, torch.inference_mode():
            self.decoder.set_prompt(None)
            self._decode(torch.from_numpy(noise).unsqueeze(0), self.window_s)

    def _decode(self, wavs: torch.Tensor, window_s: float) -> tuple[list[int], torch.Tensor, str]:
        """(token ids, scores, text) of one greedy pass over a ``window_s`` window."""
        import torch

        hyps, _, scores, _ = self.decoder(self._encode(wavs, window_s), torch.ones(1))
        ids = [int(t) for t in hyps[0]]
        return ids, scores, self.whisper.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _window_for(self, speech_s: float) -> float:
        # Keep a second of padding after the speech: Whisper expects to see where speech ends.
        return self.window_s if speech_s <= self.window_s - 1.0 else FULL_WINDOW_S

    def _encode(self, wavs: torch.Tensor, window_s: float) -> torch.Tensor:
        """Log-mel of ``window_s`` seconds through the encoder, using that many position embeddings."""
        import torch

        encoder = self.whisper.model.encoder
        positions = int(window_s * ENCODER_FRAMES_PER_S)
        if encoder.embed_positions.num_embeddings != positions:
            # HF's encoder checks its input length against config.max_source_positions and adds
            # every row of embed_positions, so both follow the window.
            if positions not in self._embeddings:
                full = self._embeddings[max(self._embeddings)].weight
                self._embeddings[positions] = torch.nn.Embedding.from_pretrained(full[:positions].detach().clone())
            encoder.config.max_source_positions = positions
            encoder.embed_positions = self._embeddings[positions]
        samples = positions * 2 * self.whisper._hop_length
        mel = self.whisper.log_mel_spectrogram(self.whisper.pad_or_trim(wavs, samples))
        return self.whisper.forward_encoder(mel)

    def transcribe_file(self, path: str | os.PathLike[str]) -> Transcript:
        from voice.audio import load_file

        return self.transcribe(load_file(path).samples)


__all__ = ["AudioError", "ModelError", "Recognizer", "Transcript", "resolve_model"]
