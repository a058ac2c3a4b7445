"""Spoken turns as they stream in: the audio buffer per client, partial transcripts, the end of speech.

``VoiceTurns`` knows nothing of sockets: ``receive`` takes one ``user_audio`` payload, ``finish`` the
``user_audio_end`` and returns the final transcript; problems are ``TurnError``s whose code and
message the socket layer sends as they are (the README's error codes).

Streamed PCM is watched for the end of speech (every ENDPOINT_EVERY_S of new audio, with the same
energy detector that trims silence, fed each chunk's frame levels once: ``StreamingLevels``): once
the speech is followed by ENDPOINT_SILENCE_S of silence, the final transcript starts (decoded on a
worker thread) while the client is still sending that silence. If the shopper speaks again, that
early transcript is stopped and the whole utterance is recognised at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.rate_limits import RATE_LIMITED, rate_limited_message
from voice.asr import Interrupted, Transcript
from voice.audio import (
    SAMPLE_RATE,
    Audio,
    AudioError,
    StreamingLevels,
    check_pcm_format,
    decode,
    from_pcm16,
    speech_bounds,
)

AUDIO_FORMATS = ("pcm16", "wav", "flac", "ogg", "webm", "mp3", "m4a")
# Partial transcripts (when a client asks): at most one pass per this much new audio.
PARTIAL_EVERY_S = 1.0
# Silence after the detected speech end (which already keeps 0.2 s of margin) before the final
# transcript starts early; looked for at most once per ENDPOINT_EVERY_S of new audio.
ENDPOINT_SILENCE_S = 0.3
ENDPOINT_EVERY_S = 0.1


class Transcriber(Protocol):
    """What VoiceTurns needs of the speech service (bot.speech.SpeechService)."""

    busy: int

    @property
    def ready(self) -> bool: ...

    async def transcribe(
        self, audio: Audio, preview: bool = False, stop: threading.Event | None = None
    ) -> Transcript: ...


class TurnError(Exception):
    """A turn that cannot go on; ``code`` and ``message`` go to the client as the ``error`` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class EarlyFinal:
    """A final transcript started while the client still streams the silence after the speech."""

    task: asyncio.Task[Transcript]
    samples: int  # 16 kHz samples of audio it was given
    stop: threading.Event  # set when the shopper speaks again: the transcript would be stale


@dataclass
class Utterance:
    """Audio chunks of one spoken turn as they arrive."""

    format: str = "pcm16"
    sample_rate: int = 16000
    channels: int = 1
    max_seconds: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    next_seq: int = 0
    partial: bool = False  # the client wants transcripts while it speaks
    partial_at: int = 0  # bytes received when the last partial pass started
    endpoint_at: int = 0  # bytes received when the end of speech was last looked for
    early: EarlyFinal | None = None
    levels: StreamingLevels | None = None  # raw PCM's frame levels, for the end of speech

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * 2

    def decode(self, chunks: list[bytes] | None = None) -> Audio:
        data = b"".join(self.chunks if chunks is None else chunks)
        if self.format == "pcm16":
            return from_pcm16(data, self.sample_rate, self.channels, max_seconds=self.max_seconds)
        return decode(data, max_seconds=self.max_seconds, max_bytes=self.max_bytes)


PartialSink = Callable[[str, Transcript], Awaitable[None]]


class VoiceTurns:
    """The utterance each client is speaking, keyed by client id (a socket id)."""

    def __init__(
        self, speech: Transcriber, max_bytes: int, max_seconds: float, on_partial: PartialSink | None = None
    ) -> None:
        self.speech = speech
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.on_partial = on_partial  # where partial transcripts go (the socket layer emits them)
        self.utterances: dict[str, Utterance] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- audio in ------------------------------------------------------------------------------
    def receive(self, client: str, data: Any) -> float:
        """One ``user_audio`` payload: ``{chunk, seq, format?, sample_rate?, channels?, partial?}``; returns
        the seconds of raw PCM it held (0 for a container, whose length is known once decoded).
        Must run on the event loop (it may start a partial or an early final transcript)."""
        if not isinstance(data, dict) or not isinstance(data.get("chunk"), (bytes, bytearray)):
            raise TurnError("bad_audio_chunk", "An audio chunk must be an object with binary 'chunk'.")
        try:
            seq = int(data.get("seq", 0) or 0)
            rate, channels = int(data.get("sample_rate") or 16000), int(data.get("channels") or 1)
        except (TypeError, ValueError) as exc:
            raise TurnError("bad_audio_chunk", "'seq', 'sample_rate' and 'channels' must be whole numbers.") from exc
        current = self.utterances.get(client)
        if current is None or seq == 0:
            current = self._start(client, data, rate, channels)
        if seq != current.next_seq:
            self.drop(client)
            raise TurnError(
                "audio_out_of_order",
                f"Audio chunk {seq} arrived where {current.next_seq} was expected; the utterance "
                "was dropped, please say it again.",
            )
        chunk = bytes(data["chunk"])
        current.next_seq += 1
        current.chunks.append(chunk)
        current.size += len(chunk)
        if current.levels is not None:
            current.levels.feed(chunk)
        if current.size > self.max_bytes:
            self.drop(client)
            raise TurnError(
                "audio_too_large", f"The utterance is over {self.max_bytes // 1_000_000} MB; it was dropped."
            )
        if current.format == "pcm16" and current.size > self.max_seconds * current.bytes_per_second:
            self.drop(client)  # raw PCM's length is known while it streams: stop holding it at once
            raise TurnError(
                "audio_too_long",
                f"The utterance is over {self.max_seconds:.0f} s; it was dropped, please say it again.",
            )
        if current.format != "pcm16":
            return 0.0  # no half-decoded containers
        seconds = len(chunk) / current.bytes_per_second
        if not self.speech.ready:
            return seconds  # nothing to run before the model is loaded
        # A partial pass only on an idle worker, so it never delays anyone's final transcript by
        # more than the one pass already running.
        if (
            current.partial
            and self.speech.busy == 0
            and current.size - current.partial_at >= PARTIAL_EVERY_S * current.bytes_per_second
        ):
            current.partial_at = current.size
            self._keep(asyncio.create_task(self._partial(client, current)))
        if current.size - current.endpoint_at >= ENDPOINT_EVERY_S * current.bytes_per_second:
            current.endpoint_at = current.size
            self._watch_for_end_of_speech(current)
        return seconds

    def _start(self, client: str, data: dict[str, Any], rate: int, channels: int) -> Utterance:
        fmt = str(data.get("format") or "pcm16").lower()
        if fmt not in AUDIO_FORMATS:
            raise TurnError("bad_audio_format", f"Audio format {fmt!r} is not one of {', '.join(AUDIO_FORMATS)}.")
        if fmt == "pcm16":  # the parameters raw PCM will be decoded with, checked before any of it is kept
            try:
                check_pcm_format(rate, channels)
            except AudioError as exc:
                raise TurnError("bad_audio_chunk", f"The audio parameters cannot be used: {exc}.") from exc
        self.drop(client)  # a new utterance replaces one never ended
        utterance = Utterance(fmt, rate, channels, self.max_seconds, self.max_bytes, partial=bool(data.get("partial")))
        if fmt == "pcm16":
            utterance.levels = StreamingLevels(rate, channels)
        self.utterances[client] = utterance
        return utterance

    def drop(self, client: str) -> None:
        """Forget the client's utterance (it left, or started another); stop its early transcript."""
        dropped = self.utterances.pop(client, None)
        if dropped is not None and dropped.early is not None:
            dropped.early.stop.set()

    # -- the end of the turn -------------------------------------------------------------------
    async def finish(self, client: str, charge: Callable[[float], bool] | None = None) -> Transcript:
        """The final transcript of the client's utterance (``user_audio_end``). ``charge`` is asked
        to allow a container's seconds once they are known (raw PCM was charged as it arrived)."""
        current = self.utterances.pop(client, None)
        if current is None or not current.chunks:
            raise TurnError("no_audio", "No audio was received for this utterance.")
        try:
            audio = await asyncio.get_running_loop().run_in_executor(None, current.decode)
            if charge is not None and current.format != "pcm16" and not charge(audio.duration_s):
                raise TurnError(RATE_LIMITED, rate_limited_message("seconds of audio"))
            return await self._final(current, audio)
        except AudioError as exc:
            raise TurnError("bad_audio", f"The audio could not be used: {exc}.") from exc
        except RuntimeError as exc:
            raise TurnError("asr_unavailable", str(exc)) from exc

    async def _final(self, current: Utterance, audio: Audio) -> Transcript:
        """The early transcript when no speech came after it, else a new one of the whole audio."""
        early = current.early
        if early is not None and speech_bounds(audio.samples)[1] <= early.samples:
            try:
                transcript = await early.task
                return dataclasses.replace(transcript, duration_s=round(audio.duration_s, 3))  # all of it was heard
            except Interrupted:
                pass
        elif early is not None:
            early.stop.set()
        return await self.speech.transcribe(audio)

    def _watch_for_end_of_speech(self, current: Utterance) -> None:
        """Starts the final transcript once the speech so far is followed by silence; drops it
        when the shopper speaks again. Reads only frame levels; decoding runs on a worker thread."""
        levels = current.levels
        if levels is None:
            return
        speech_end_s, silence_s = levels.speech_end()
        if current.early is not None:
            # Speech past the audio the early transcript was given: the shopper spoke again.
            if speech_end_s * SAMPLE_RATE > current.early.samples:
                current.early.stop.set()
                current.early = None
            return
        if silence_s is not None and silence_s >= ENDPOINT_SILENCE_S:
            stop = threading.Event()
            task = asyncio.create_task(self._early_final(current, list(current.chunks), stop))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a stale one's error is nobody's
            self._keep(task)
            samples = int(current.size / current.bytes_per_second * SAMPLE_RATE)
            current.early = EarlyFinal(task, samples, stop)

    async def _early_final(self, current: Utterance, chunks: list[bytes], stop: threading.Event) -> Transcript:
        audio = await asyncio.get_running_loop().run_in_executor(None, current.decode, chunks)
        return await self.speech.transcribe(audio, stop=stop)

    async def _partial(self, client: str, utterance: Utterance) -> None:
        try:
            # A preview costs one decode; the final pass adds the catalogue's names.
            audio = await asyncio.get_running_loop().run_in_executor(None, utterance.decode, list(utterance.chunks))
            transcript = await self.speech.transcribe(audio, preview=True)
        except (AudioError, RuntimeError):  # Interrupted too: a final transcript needed the worker
            return  # the final pass reports problems
        if self.utterances.get(client) is utterance and transcript.text and self.on_partial:  # still being spoken
            await self.on_partial(client, transcript)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._background.discard)
