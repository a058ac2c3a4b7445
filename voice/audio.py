"""Audio in, 16 kHz mono float32 out: decoding, resampling, limits and silence trimming.

Browsers send WebM/Opus or OGG/Opus from MediaRecorder, files arrive as WAV/FLAC, and
streaming clients send raw 16-bit PCM. Everything becomes one float32 array at 16 kHz so the
recogniser sees one format. Every failure is an ``AudioError`` with a message fit for the user.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from voice.settings import VoiceSettings

SAMPLE_RATE = 16000
# Raw PCM a client may stream: what microphones give (mono or stereo, 8 to 48 kHz).
PCM_RATES = (8000, 48000)
PCM_MAX_CHANNELS = 2
# Below this much audio there is nothing to recognise (a click, an accidental tap).
MIN_SECONDS = 0.1


class AudioError(ValueError):
    """Audio that cannot be used; ``str(error)`` is safe to show to the shopper."""


@dataclass
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    source_rate: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Band-limited resampling to 16 kHz (torchaudio's windowed sinc)."""
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    import torch
    import torchaudio.functional

    tensor = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    return torchaudio.functional.resample(tensor, rate, SAMPLE_RATE).numpy()


def _finish(samples: np.ndarray, rate: int, max_seconds: float) -> Audio:
    """Mix to mono, check length, resample."""
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    mono = samples if samples.ndim == 1 else samples.mean(axis=1)
    if rate <= 0:
        raise AudioError("the audio has no valid sample rate")
    seconds = len(mono) / rate
    if seconds < MIN_SECONDS:
        raise AudioError("the audio is empty or too short to hold speech")
    if seconds > max_seconds:
        raise AudioError(f"the audio is {seconds:.1f} s long; the limit is {max_seconds:.0f} s per utterance")
    if not np.all(np.isfinite(mono)):
        raise AudioError("the audio holds invalid samples")
    return Audio(resample(mono.astype(np.float32), rate), rate, channels)


def _decode_soundfile(data: bytes) -> tuple[np.ndarray, int] | None:
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None
    return samples, int(rate)


def _decode_av(data: bytes) -> tuple[np.ndarray, int]:
    """Containers libsndfile does not read (WebM/Opus from browsers, MP3, M4A) via FFmpeg."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the file holds no audio stream")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            pieces: list[np.ndarray] = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush
                pieces.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, EOFError) as error:
        raise AudioError(
            f"the audio could not be decoded ({type(error).__name__}); send WAV, FLAC, "
            "OGG/Opus, WebM/Opus or raw 16-bit PCM"
        ) from error
    if not pieces:
        raise AudioError("the audio is empty or truncated: no sound could be decoded")
    return np.concatenate(pieces), SAMPLE_RATE


def decode(data: bytes, max_seconds: float | None = None, max_bytes: int | None = None) -> Audio:
    """Any supported encoded audio file (bytes) → 16 kHz mono. Limits default to the voice settings
    (SHOPKEEPER_MAX_AUDIO_S, SHOPKEEPER_MAX_AUDIO_BYTES)."""
    if not data:
        raise AudioError("no audio was received")
    if max_seconds is None or max_bytes is None:
        settings = VoiceSettings.from_env()
        max_seconds = settings.max_audio_s if max_seconds is None else max_seconds
        max_bytes = settings.max_audio_bytes if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        raise AudioError(f"the audio is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    decoded = _decode_soundfile(data) or _decode_av(data)
    return _finish(*decoded, max_seconds=max_seconds)


def check_pcm_format(rate: int, channels: int) -> None:
    """Refuse raw PCM parameters outside PCM_RATES / PCM_MAX_CHANNELS (an ``AudioError``)."""
    low, high = PCM_RATES
    if not 1 <= channels <= PCM_MAX_CHANNELS:
        raise AudioError(f"'channels' must be 1 or {PCM_MAX_CHANNELS}, not {channels}")
    if not low <= rate <= high:
        raise AudioError(f"'sample_rate' must be {low} to {high} Hz, not {rate}")


def from_pcm16(data: bytes, rate: int = SAMPLE_RATE, channels: int = 1, max_seconds: float | None = None) -> Audio:
    """Raw little-endian signed 16-bit PCM (interleaved when stereo) → 16 kHz mono."""
    if not data:
        raise AudioError("no audio was received")
    check_pcm_format(rate, channels)
    if len(data) % (2 * channels):
        raise AudioError(f"raw PCM16 audio must be whole {channels}-channel frames of 2-byte samples")
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if max_seconds is None:
        max_seconds = VoiceSettings.from_env().max_audio_s
    return _finish(samples.reshape(-1, channels) if channels > 1 else samples, rate, max_seconds)


def load_file(path: str | os.PathLike[str], max_seconds: float | None = None) -> Audio:
    max_bytes = VoiceSettings.from_env().max_audio_bytes
    with open(path, "rb") as f:
        return decode(f.read(max_bytes + 1), max_seconds=max_seconds, max_bytes=max_bytes)


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian 16-bit PCM (clipped, not wrapped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def rms(samples: np.ndarray) -> float:
    """The root-mean-square level of some samples."""
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2) + 1e-12))


def frame_levels(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS level of each whole frame of ``frame`` samples."""
    count = len(samples) // frame
    frames = samples[: count * frame].reshape(count, frame)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


def speech_bounds(samples: np.ndarray, frame_s: float = 0.02, margin_s: float = 0.2) -> tuple[int, int]:
    """(start, end) sample indices of the voiced part: an energy detector with an adaptive floor.

    A frame is voiced when its RMS is well above the quietest frames (the noise floor) and above
    an absolute floor. Margins keep the soft onsets and endings of words.
    """
    frame = int(SAMPLE_RATE * frame_s)
    count = len(samples) // frame
    if count < 3:
        return 0, len(samples)
    start, end = voiced_frames(frame_levels(samples, frame), int(margin_s / frame_s))
    return start * frame, end * frame


def voiced_frames(rms: np.ndarray, margin: int, min_run: int = 1) -> tuple[int, int]:
    """(first, end) frame indices of the voiced part of frames with these RMS levels, ``margin`` frames
    wider on each side; (0, 0) when none is voiced. With ``min_run``, the voiced part ends with the
    last run of at least that many voiced frames (a click or a clatter in a pause is not speech)."""
    count = len(rms)
    floor = np.percentile(rms, 10)
    peak = np.percentile(rms, 99)
    # Halfway (in dB) between the noise floor and the loud frames, never below -50 dBFS.
    threshold = max(np.sqrt(floor * peak), 10 ** (-50 / 20), floor * 2)
    loud = np.concatenate([[0], (rms > threshold).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(loud))  # where each run of loud frames starts and ends
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= min_run]
    if not runs:
        return 0, 0
    return int(max(0, runs[0][0] - margin)), int(min(count, runs[-1][1] + margin))


class StreamingLevels:
    """Frame RMS levels of raw PCM16 as it streams in: each chunk is read once (no re-decoding of
    the whole utterance), so watching for the end of speech costs the same per chunk at 1 s or 30 s."""

    def __init__(self, rate: int, channels: int, frame_s: float = 0.02) -> None:
        self.channels = channels
        self.frame_s = frame_s
        self.frame_bytes = max(1, int(rate * frame_s)) * channels * 2
        self.rest = b""
        self.levels: list[float] = []

    def feed(self, chunk: bytes) -> None:
        data = self.rest + chunk
        whole = len(data) - len(data) % self.frame_bytes
        self.rest = data[whole:]
        if not whole:
            return
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.float64) / 32768.0
        frames = samples.reshape(-1, self.frame_bytes // 2)  # a frame's channels stay together
        self.levels.extend(np.sqrt(np.mean(frames**2, axis=1) + 1e-12).tolist())

    def speech_end(self, margin_s: float = 0.2, min_run_s: float = 0.0) -> tuple[float, float | None]:
        """(where the voiced part ends, with its margin; seconds of silence after it, or None before
        any speech), in seconds from the start. ``min_run_s``: voiced stretches shorter than this
        (a knock, a click) do not count as speech."""
        if len(self.levels) < 3:
            return 0.0, None
        min_run = max(1, round(min_run_s / self.frame_s))
        start, end = voiced_frames(np.asarray(self.levels), int(margin_s / self.frame_s), min_run)
        silence = (len(self.levels) - end) * self.frame_s if end > start else None
        return end * self.frame_s, silence


def trim_silence(samples: np.ndarray) -> np.ndarray:
    """The samples without leading and trailing silence; empty when nothing is voiced."""
    start, end = speech_bounds(samples)
    return samples[start:end]
