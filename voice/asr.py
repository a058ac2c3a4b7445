"""Speech to text with SpeechBrain's ``WhisperASR``, loaded from a local folder.

``Recognizer("base")`` (or ``"tiny.en"``) prepares (once) and loads the Whisper folder built by
``voice.prepare``; any other value is a SpeechBrain model folder with a ``hyperparams.yaml``,
or, only with ``SHOPKEEPER_ALLOW_HUB=1``, a model hub id. Defaults come from the voice settings
(``voice.settings``: SHOPKEEPER_ASR_MODEL, SHOPKEEPER_ASR_WINDOW_S, SHOPKEEPER_ASR_BIAS).
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from voice.audio import SAMPLE_RATE, AudioError, trim_silence
from voice.prepare import WHEELS, prepare
from voice.settings import VoiceSettings

if TYPE_CHECKING:
    import torch

    from voice.biasing import CatalogueBias
    from voice.onnx_encoder import OnnxEncoder

log = logging.getLogger(__name__)

# Utterances longer than the (shorter, voice.settings) window fall back to Whisper's full 30 s.
FULL_WINDOW_S = 30.0
EXTRA_BIASED_TOKENS = 8  # how much longer than the plain decode a biased one may run
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
    biased_text: str = ""  # what the catalogue bonus proposed, when it differed from the plain decode
    bias_cost: float | None = None  # how much less likely plain Whisper found the proposal (nats)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Heard(NamedTuple):
    """What one recognition pass over trimmed speech found, before text correction."""

    ids: list[int]
    text: str
    log_prob: float
    biased_text: str
    bias_cost: float | None
    speech_s: float


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


class Interrupted(RuntimeError):
    """A transcription was stopped by its ``stop`` event."""


class ModelError(RuntimeError):
    """The speech model cannot be found or loaded; the message says what to do."""


def resolve_model(spec: str, allow_hub: bool = False) -> Path | str:
    """A Whisper size, a local SpeechBrain folder, or (when allowed) a hub id."""
    if spec in WHEELS:
        return prepare(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "hyperparams.yaml").exists():
            raise ModelError(f"{path} has no hyperparams.yaml; it is not a SpeechBrain model folder")
        return path.resolve()
    if allow_hub:
        return spec
    raise ModelError(
        f"ASR model {spec!r} is neither {' nor '.join(WHEELS)} nor a local folder; "
        "set SHOPKEEPER_ALLOW_HUB=1 to let SpeechBrain fetch a hub id"
    )


class Recognizer:
    """One loaded Whisper model. ``transcribe`` is thread-safe (calls are serialised)."""

    def __init__(
        self,
        model: str | None = None,
        threads: int | None = None,
        prompt: str | None = None,
        corrector: object | None = None,
        window_s: float | None = None,
        bias: bool | None = None,
        settings: VoiceSettings | None = None,
    ) -> None:
        """Arguments left None come from ``settings`` (default: the environment, voice.settings).
        Shop names get a bonus during decoding when ``bias`` and a catalogue corrector are given,
        kept only where unbiased Whisper agrees it could have heard them (voice/biasing.py)."""
        import torch
        from speechbrain.inference.ASR import WhisperASR

        settings = settings or VoiceSettings.from_env()
        model = model or settings.asr_model
        window_s = settings.window_s if window_s is None else window_s
        bias = settings.bias if bias is None else bias

        if threads:
            torch.set_num_threads(threads)
        self.name = model
        self.prompt = prompt
        self.corrector = corrector  # anything with .correct(text) -> (text, corrections)
        started = time.perf_counter()
        source = resolve_model(model, settings.allow_hub)
        if isinstance(source, Path):
            # Local folder: SpeechBrain reads it in place; nothing is fetched.
            self.asr = WhisperASR.from_hparams(
                source=str(source), savedir=str(source), overrides={"model_dir": str(source)}
            )
        else:
            self.asr = WhisperASR.from_hparams(source=source)
        self.whisper = self.asr.mods.whisper
        self.decoder = self.asr.mods.decoder
        self.language = getattr(self.whisper, "language", None) or "en"
        self.window_s = min(max(window_s, 1.0), FULL_WINDOW_S)
        # A window fitted to the speech (plus margin_s) halves base's time but loops and loses WER
        # (benchmarks/results/asr_window_base.md); kept for that sweep, off in the product.
        self.margin_s: float | None = None
        self.fallback = True  # redo a degenerate short-window transcript with the full window
        terms = getattr(corrector, "terms", None)
        self.bias: CatalogueBias | None = None
        if bias and terms:
            from voice.biasing import CatalogueBias

            self.bias = CatalogueBias(lambda text: self.whisper.tokenizer.encode(text, add_special_tokens=False), terms)
            self.bias.attach(self.decoder)
        full = self.whisper.model.encoder.embed_positions
        self._embeddings = {full.num_embeddings: full}  # position table per window length, made once
        # The product's window runs in ONNX Runtime (voice/onnx_encoder.py); others stay on torch.
        self.onnx_encoder: OnnxEncoder | None = None
        if settings.onnx_encoder and isinstance(source, Path):
            try:
                self.onnx_encoder = self._onnx_encoder(source, self.window_s)
            except (OSError, RuntimeError) as error:  # read-only folder, failed export: slower, not wrong
                log.warning("Whisper's encoder stays on torch: %s", error)
        self._prompt_tokens = self._encode_prompt(prompt)
        self._lock = threading.Lock()
        # A preview still running when the shopper stops talking would hold up the final
        # transcript: a transcription given a stop event ends at its next encoder layer or token
        # once the event is set.
        self._stop: threading.Event | None = None
        for module in (*self.whisper.model.encoder.layers, self.whisper.model.decoder):
            module.register_forward_pre_hook(self._stop_if_asked)
        self.load_s = time.perf_counter() - started

    def _onnx_encoder(self, folder: Path, window_s: float) -> OnnxEncoder:
        import torch

        from voice.onnx_encoder import load_or_export

        silence = torch.zeros(1, int(window_s * SAMPLE_RATE))
        with torch.inference_mode():
            mel = self._mel(silence, window_s)
        self._use_positions(int(window_s * ENCODER_FRAMES_PER_S))  # the table the export traces
        return load_or_export(folder, self.whisper.model.encoder, mel, torch.get_num_threads())

    def _encode_prompt(self, prompt: str | None) -> list[int]:
        if not prompt:
            return []
        return list(self.whisper.tokenizer.encode(" " + prompt.strip(), add_special_tokens=False))

    def _stop_if_asked(self, module: object, args: object) -> None:
        if self._stop is not None and self._stop.is_set():
            raise Interrupted("the transcription was stopped")

    def transcribe(
        self, samples: np.ndarray, prompt: str | None = None, biased: bool = True, stop: threading.Event | None = None
    ) -> Transcript:
        """16 kHz mono float32 → text. Silence around the speech is trimmed first. ``biased=False``
        skips the catalogue-biased second decode (a partial transcript is only a preview). Setting
        ``stop`` (from any thread) ends the transcription early with ``Interrupted``."""
        import torch

        duration = len(samples) / SAMPLE_RATE
        speech = trim_silence(samples)
        if len(speech) < SAMPLE_RATE * 0.1:
            return Transcript("", 0.0, self.language, duration, 0.0, 0.0)
        tokens = self._encode_prompt(prompt) if prompt is not None else self._prompt_tokens
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            self._stop = stop
            try:
                heard = self._recognise(speech, tokens, biased)
            finally:
                self._stop = None
        elapsed = time.perf_counter() - started
        confidence = math.exp(heard.log_prob / (len(heard.ids) + 1)) if heard.ids else 0.0
        text, corrections = heard.text, []
        if self.corrector is not None and heard.text:
            text, found = self.corrector.correct(heard.text)  # type: ignore[attr-defined]
            corrections = [(c.heard, c.meant) for c in found]
        return Transcript(
            text,
            round(confidence, 3),
            self.language,
            round(duration, 3),
            round(heard.speech_s, 3),
            round(elapsed, 3),
            heard.text,
            corrections,
            heard.biased_text,
            None if heard.bias_cost is None else round(heard.bias_cost, 3),
        )

    def _recognise(self, speech: np.ndarray, prompt_tokens: list[int], biased: bool) -> Heard:
        """Encode and decode trimmed speech: the plain decode, the full window if that looks
        degenerate, then the biased proposal where the bonus would change a token."""
        import torch

        self.decoder.set_prompt(prompt_tokens or None)
        wavs = torch.from_numpy(np.ascontiguousarray(speech, dtype=np.float32)).unsqueeze(0)
        speech_s = len(speech) / SAMPLE_RATE
        window = self._window_for(speech_s)
        encoded = self._encode(wavs, window)
        ids, scores, raw = self._decode(encoded)
        if self.fallback and window < FULL_WINDOW_S and looks_degenerate(raw, speech_s):
            # Short windows in heavy noise sometimes loop on a phrase; the full window rarely does.
            encoded = self._encode(wavs, FULL_WINDOW_S)
            ids, scores, raw = self._decode(encoded)
        log_prob = float(scores.reshape(-1)[0])
        biased_text, bias_cost = "", None
        if biased and self.bias is not None and raw and not looks_degenerate(raw, speech_s):
            proposal = self._biased_decode(encoded, ids, speech_s)
            if proposal is not None:
                biased_ids, biased_text, biased_log_prob, bias_cost = proposal
                if bias_cost <= self.bias.max_cost:
                    ids, raw, log_prob = biased_ids, biased_text, biased_log_prob
        return Heard(ids, raw, log_prob, biased_text, bias_cost, speech_s)

    def _biased_decode(
        self, encoded: torch.Tensor, plain_ids: list[int], speech_s: float
    ) -> tuple[list[int], str, float, float] | None:
        """The catalogue-biased decode of the same audio, as (ids, text, log-probability, cost), where
        cost is how much less likely the unbiased model finds it than its own ``plain_ids``;
        None when the bias changes nothing or produces a degenerate transcript."""
        assert self.bias is not None
        flip = self.bias.flip_at
        if flip is None:  # the plain decode never saw the bonus change its choice
            return None
        # Up to the flip the biased decode is the plain one: resume from there, not from the start.
        prefix = [i for i in plain_ids[:flip] if i != self.whisper.eos]
        ratio, prompt = self.decoder.max_decode_ratio, self.decoder.prompt
        # A name adds a few tokens; a proposal much longer than the plain transcript is a loop.
        self.decoder.max_decode_ratio = (len(plain_ids) - len(prefix) + EXTRA_BIASED_TOKENS + 0.5) / encoded.shape[1]
        self.decoder.prefix = prefix or None
        self.decoder.set_prompt(prompt)  # rebuilds the initial tokens, now ending with the prefix
        self.bias.active = True
        try:
            tail, _, _ = self._decode(encoded)
        finally:
            self.bias.active = False
            self.decoder.max_decode_ratio = ratio
            self.decoder.prefix = None
            self.decoder.set_prompt(prompt)
        ids = prefix + tail
        text = self.whisper.tokenizer.decode(ids, skip_special_tokens=True).strip()
        if ids == plain_ids or not text or looks_degenerate(text, speech_s):
            return None
        log_prob = self._log_prob(encoded, ids)
        return ids, text, log_prob, self._log_prob(encoded, plain_ids) - log_prob

    def _log_prob(self, encoded: torch.Tensor, ids: list[int]) -> float:
        """Log-probability of the transcript ``ids`` (then end of text) under the unbiased model:
        one decoder pass over the whole sequence."""
        import torch

        start = list(self.decoder.initial_tokens)
        sequence = start + [i for i in ids if i != self.whisper.eos] + [self.whisper.eos]
        logits, _, _ = self.whisper.forward_decoder(encoded, torch.tensor([sequence[:-1]]), use_cache=False)
        log_probs = torch.log_softmax(logits[0, len(start) - 1 :].float(), dim=-1)
        targets = torch.tensor(sequence[len(start) :]).unsqueeze(1)
        return float(log_probs.gather(1, targets).sum())

    def warm_up(self) -> None:
        """One decode of quiet noise, so the first shopper does not pay torch's first-call setup."""
        import torch

        noise = np.random.default_rng(0).normal(0, 1e-3, SAMPLE_RATE).astype(np.float32)
        with self._lock, torch.inference_mode():
            self.decoder.set_prompt(None)
            encoded = self._encode(torch.from_numpy(noise).unsqueeze(0), self.window_s)
            self._decode(encoded)
            self._log_prob(encoded, [])

    def _decode(self, encoded: torch.Tensor) -> tuple[list[int], torch.Tensor, str]:
        """(token ids, scores, text) of one greedy pass over the encoder's output."""
        import torch

        if self.bias is not None and not self.bias.active:
            self.bias.flip_at = None  # watched afresh on every plain decode
        hyps, _, scores, _ = self.decoder(encoded, torch.ones(1))
        ids = [int(t) for t in hyps[0]]
        return ids, scores, self.whisper.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def _window_for(self, speech_s: float) -> float:
        """Seconds of audio the encoder reads: ``window_s``, or the speech plus ``margin_s`` (whole
        seconds) when set, at most ``window_s``; speech that does not fit with a second to spare
        gets Whisper's full 30 s."""
        # Keep a second of padding after the speech at least: Whisper expects to see where speech ends.
        if speech_s > self.window_s - 1.0:
            return FULL_WINDOW_S
        if self.margin_s is None:
            return self.window_s
        return min(self.window_s, float(math.ceil(speech_s + max(self.margin_s, 1.0))))

    def _encode(self, wavs: torch.Tensor, window_s: float) -> torch.Tensor:
        """Log-mel of ``window_s`` seconds through the encoder, using that many position embeddings."""
        mel = self._mel(wavs, window_s)
        onnx = self.onnx_encoder
        if onnx is not None and onnx.frames == mel.shape[-1]:
            self._stop_if_asked(None, None)  # torch's layers check between them; one ONNX call checks first
            return onnx(mel)
        self._use_positions(int(window_s * ENCODER_FRAMES_PER_S))
        return self.whisper.forward_encoder(mel)

    def _mel(self, wavs: torch.Tensor, window_s: float) -> torch.Tensor:
        """Whisper's log-mel features of the first ``window_s`` seconds (padded with silence)."""
        samples = int(window_s * ENCODER_FRAMES_PER_S) * 2 * self.whisper._hop_length
        return self.whisper.log_mel_spectrogram(self.whisper.pad_or_trim(wavs, samples))

    def _use_positions(self, positions: int) -> None:
        """Give torch's encoder a position table of ``positions`` rows (one per encoder frame)."""
        import torch

        encoder = self.whisper.model.encoder
        if encoder.embed_positions.num_embeddings != positions:
            # HF's encoder checks its input length against config.max_source_positions and adds
            # every row of embed_positions, so both follow the window.
            if positions not in self._embeddings:
                full = self._embeddings[max(self._embeddings)].weight
                self._embeddings[positions] = torch.nn.Embedding.from_pretrained(full[:positions].detach().clone())
            encoder.config.max_source_positions = positions
            encoder.embed_positions = self._embeddings[positions]

    def transcribe_file(self, path: str | os.PathLike[str]) -> Transcript:
        from voice.audio import load_file

        return self.transcribe(load_file(path).samples)


__all__ = ["AudioError", "Interrupted", "ModelError", "Recognizer", "Transcript", "resolve_model"]
