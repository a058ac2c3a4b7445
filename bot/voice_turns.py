"""Spoken turns as they stream in: the audio buffer per client, partial transcripts, the end of speech.

``VoiceTurns`` knows nothing of sockets: ``receive`` takes one ``user_audio`` payload, ``finish`` the
``user_audio_end`` and returns the final transcript; problems are ``TurnError``s whose code and
message the socket layer sends as they are (the README's error codes).

Streamed PCM is watched for pauses (every ENDPOINT_EVERY_S of new audio, with the same energy
detector that trims silence, fed each chunk's frame levels once: ``StreamingLevels``). At every
pause of PAUSE_S the final transcript starts (decoded on a worker thread) while the client is still
sending the silence; if the shopper speaks again, that early transcript is stopped.

The gateway also decides when the turn is over (``TurnPolicy``), so a client that keeps streaming
gets its answer without sending ``user_audio_end``:
- "model": at the pause, Smart Turn (voice/end_of_turn.py) hears whether the shopper has finished,
  and once the early transcript is ready, a classifier taught by the bot's NLU examples
  (voice/turn_text.py) reads whether it is a whole request. When both say so, and the transcript
  does not end on a word that leaves the sentence open ("my order number is"), the turn ends then.
  Otherwise it ends after ``fallback_s`` of silence, or after ``long_fallback_s`` when the
  transcript is ready by then and reads unfinished ("order 100").
- "silence": the turn ends after ``silence_s`` of silence (the old way, kept for comparison).
- "client": only ``user_audio_end`` ends it (also per utterance: ``end_of_turn: "client"``).
Audio that keeps coming after a turn the gateway ended (seq going on) starts the next turn; a late
``user_audio_end`` for it finds nothing new to say and is ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
from voice.settings import VoiceSettings

AUDIO_FORMATS = ("pcm16", "wav", "flac", "ogg", "webm", "mp3", "m4a")
# Partial transcripts (when a client asks): at most one pass per this much new audio.
PARTIAL_EVERY_S = 1.0
# Silence after the last voiced frame that counts as a pause: the final transcript starts early and
# the end-of-turn model is asked; looked for at most once per ENDPOINT_EVERY_S of new audio.
PAUSE_S = 0.2
ENDPOINT_EVERY_S = 0.1
# Voiced stretches shorter than this are not speech for the end of a turn: in a noisy room a knock
# or a clatter after the last word would otherwise restart the pause (dev: noisy turns waited longer).
MIN_SPEECH_RUN_S = 0.1
# Last words that leave a sentence open: a turn whose transcript ends on one waits for the fallback
# silence, whatever the model heard (people pause after "is" or "and" to look something up).
OPEN_ENDINGS = frozenset(
    "a an the and or but so because if then my your our their his her its is are was to of for with "
    "from in on at by about like than um uh er erm hmm".split()
)


def leaves_open(text: str) -> bool:
    """True when the transcript's last word leaves the sentence open, or it trails off ("...")."""
    stripped = text.strip()
    if stripped.endswith(("...", "…", ",", "-")):
        return True
    words = re.findall(r"[a-z']+", stripped.lower())
    return bool(words) and words[-1] in OPEN_ENDINGS


@dataclass(frozen=True)
class TurnPolicy:
    """How the gateway decides that a streamed turn is over (voice.settings, SHOPKEEPER_END_OF_TURN...)."""

    mode: str = "model"  # model, silence or client
    threshold: float = 0.3  # Smart Turn's probability above which a pause may end the turn
    text_threshold: float = 0.7  # and the transcript model's
    silence_s: float = 0.5  # "silence": this much quiet ends the turn
    fallback_s: float = 1.0  # "model": this much quiet ends it even when the model said "not yet"
    unfinished_below: float = 0.3  # ...unless the transcript model reads less than this (0: off)
    long_fallback_s: float = 2.0  # then this much quiet ends it

    @classmethod
    def from_settings(cls, settings: VoiceSettings) -> TurnPolicy:
        return cls(
            settings.end_of_turn,
            settings.turn_threshold,
            settings.turn_text_threshold,
            settings.turn_silence_s,
            settings.turn_fallback_s,
            settings.turn_unfinished_below,
            settings.turn_long_fallback_s,
        )

    def finished(self, heard: float | None, read: float | None, text: str) -> bool:
        """Does a pause end the turn? ``heard``: Smart Turn on the audio; ``read``: the transcript
        model on ``text`` (None when it is not loaded: Smart Turn decides alone)."""
        if heard is None or heard < self.threshold or leaves_open(text):
            return False
        return read is None or read >= self.text_threshold

    def waited_enough(self, quiet_s: float, read: float | None) -> bool:
        """After "not yet": does ``quiet_s`` of silence end the turn? Longer when the pause's
        transcript reads unfinished (``read``). A transcript not ready yet (None) is not waited
        for: while a turn stays open, every noise in the room restarts it, and waiting for it
        without a bound kept noisy turns open for seconds (test2)."""
        if quiet_s >= self.long_fallback_s:
            return True
        unfinished = read is not None and read < self.unfinished_below
        return quiet_s >= self.fallback_s and not unfinished


class Transcriber(Protocol):
    """What VoiceTurns needs of the speech service (bot.speech.SpeechService)."""

    busy: int

    @property
    def ready(self) -> bool: ...

    async def transcribe(
        self, audio: Audio, preview: bool = False, stop: threading.Event | None = None
    ) -> Transcript: ...

    async def turn_complete(self, audio: Audio) -> float | None: ...

    def text_complete(self, text: str) -> float | None: ...


class TurnError(Exception):
    """A turn that cannot go on; ``code`` and ``message`` go to the client as the ``error`` event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class EarlyFinal:
    """A final transcript started while the client still streams the silence after the speech."""

    samples: int  # 16 kHz samples of audio it was given
    stop: threading.Event  # set when the shopper speaks again: the transcript would be stale
    probability: float | None = None  # what the end-of-turn model said at this pause
    text_probability: float | None = None  # what the transcript model read in the pause's transcript
    task: asyncio.Task[Transcript] = field(init=False)  # set once the object exists (the task writes probability)


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
    ends: Literal["gateway", "client"] = "gateway"  # who ends this turn
    first: dict[str, Any] = field(default_factory=dict)  # the first chunk's fields (metadata), without audio
    ended_by: str = "client"  # "client" (user_audio_end), or the gateway's reason: model, silence, fallback

    @property
    def heard_speech(self) -> bool:
        """Raw PCM in which the detector found speech (containers: unknown, so True)."""
        return self.levels is None or self.levels.speech_end()[1] is not None

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.channels * 2

    def decode(self, chunks: list[bytes] | None = None) -> Audio:
        data = b"".join(self.chunks if chunks is None else chunks)
        if self.format == "pcm16":
            return from_pcm16(data, self.sample_rate, self.channels, max_seconds=self.max_seconds)
        return decode(data, max_seconds=self.max_seconds, max_bytes=self.max_bytes)


PartialSink = Callable[[str, Transcript], Awaitable[None]]
TurnEndSink = Callable[[str, Utterance], Coroutine[Any, Any, None]]


class VoiceTurns:
    """The utterance each client is speaking, keyed by client id (a socket id)."""

    def __init__(
        self,
        speech: Transcriber,
        max_bytes: int,
        max_seconds: float,
        on_partial: PartialSink | None = None,
        policy: TurnPolicy | None = None,
        on_turn_end: TurnEndSink | None = None,
    ) -> None:
        self.speech = speech
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.on_partial = on_partial  # where partial transcripts go (the socket layer emits them)
        self.policy = policy or TurnPolicy()
        # Where turns the gateway ended go (the socket layer transcribes them and answers); without
        # one, only user_audio_end ends a turn.
        self.on_turn_end = on_turn_end
        self.utterances: dict[str, Utterance] = {}
        self.ended: dict[str, int] = {}  # client -> the seq its stream goes on with after a turn the gateway ended
        self.answered: set[str] = set()  # clients whose last turn the gateway ended (and answered) itself
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
        if current is None and seq > 0 and self.ended.get(client) == seq:
            current = self._start(client, data, rate, channels, next_seq=seq)  # the stream goes on: a new turn
        elif current is None or seq == 0:
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
            if current.ends == "gateway" and self.on_turn_end is not None:  # an open microphone streams on
                self.ended[client] = current.next_seq
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
            self._watch_for_end_of_speech(client, current)
        return seconds

    def _start(self, client: str, data: dict[str, Any], rate: int, channels: int, next_seq: int = 0) -> Utterance:
        fmt = str(data.get("format") or "pcm16").lower()
        if fmt not in AUDIO_FORMATS:
            raise TurnError("bad_audio_format", f"Audio format {fmt!r} is not one of {', '.join(AUDIO_FORMATS)}.")
        ends = str(data.get("end_of_turn") or "gateway").lower()
        if ends not in ("gateway", "client"):
            raise TurnError("bad_audio_chunk", '\'end_of_turn\' must be "gateway" or "client".')
        if fmt == "pcm16":  # the parameters raw PCM will be decoded with, checked before any of it is kept
            try:
                check_pcm_format(rate, channels)
            except AudioError as exc:
                raise TurnError("bad_audio_chunk", f"The audio parameters cannot be used: {exc}.") from exc
        self._discard(client)  # a new utterance replaces one never ended
        utterance = Utterance(fmt, rate, channels, self.max_seconds, self.max_bytes, partial=bool(data.get("partial")))
        utterance.next_seq = next_seq
        utterance.ends = "client" if ends == "client" else "gateway"
        utterance.first = {key: value for key, value in data.items() if key != "chunk"}
        if fmt == "pcm16":
            utterance.levels = StreamingLevels(rate, channels)
        self.utterances[client] = utterance
        return utterance

    def drop(self, client: str) -> None:
        """Forget the client's utterance (it left, or it was refused); stop its early transcript."""
        self.ended.pop(client, None)
        self.answered.discard(client)
        self._discard(client)

    def _discard(self, client: str) -> None:
        dropped = self.utterances.pop(client, None)
        if dropped is not None and dropped.early is not None:
            dropped.early.stop.set()

    # -- the end of the turn -------------------------------------------------------------------
    async def finish(self, client: str, charge: Callable[[float], bool] | None = None) -> Transcript | None:
        """The final transcript of the client's utterance (``user_audio_end``). ``charge`` is asked
        to allow a container's seconds once they are known (raw PCM was charged as it arrived).
        None when the gateway already ended the turn and nothing but silence came after it."""
        current = self.utterances.pop(client, None)
        self.ended.pop(client, None)
        gateway_ended = client in self.answered
        self.answered.discard(client)
        if gateway_ended and (current is None or not current.heard_speech):
            if current is not None and current.early is not None:
                current.early.stop.set()
            return None
        if current is None or not current.chunks:
            raise TurnError("no_audio", "No audio was received for this utterance.")
        return await self.transcribe(current, charge)

    async def transcribe(self, current: Utterance, charge: Callable[[float], bool] | None = None) -> Transcript:
        """The final transcript of an utterance that has ended (by the client or the gateway)."""
        try:
            early = current.early
            if current.ended_by != "client" and early is not None:
                # The gateway ended the turn at that pause, watching that no speech came after it:
                # its transcript stands, and raw PCM's length is known without decoding it again.
                try:
                    transcript = await early.task
                    return dataclasses.replace(transcript, duration_s=round(current.size / current.bytes_per_second, 3))
                except Interrupted:
                    pass
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

    def _watch_for_end_of_speech(self, client: str, current: Utterance) -> None:
        """At a pause: start the final transcript (and ask the end-of-turn model); when the shopper
        speaks again, drop it; when the policy says the turn is over, end it. Reads only frame
        levels here; decoding and the model run on worker threads."""
        levels = current.levels
        if levels is None:
            return
        speech_end_s, quiet_s = levels.speech_end(margin_s=0.0, min_run_s=MIN_SPEECH_RUN_S)
        if quiet_s is None:
            return  # no speech yet
        early = current.early
        if early is not None and speech_end_s * SAMPLE_RATE > early.samples:
            early.stop.set()  # the shopper spoke again: that transcript and verdict are stale
            current.early = early = None
        if early is None and quiet_s >= PAUSE_S:
            early = self._start_early_final(client, current)
        mode = "client" if current.ends == "client" or self.on_turn_end is None else self.policy.mode
        if early is None or mode == "client":
            return
        if mode == "silence" and quiet_s >= self.policy.silence_s:
            self._end(client, current, "silence")
        elif mode == "model" and self.policy.waited_enough(quiet_s, early.text_probability):
            self._end(client, current, "fallback")

    def _start_early_final(self, client: str, current: Utterance) -> EarlyFinal:
        stop = threading.Event()
        chunks = list(current.chunks)
        samples = int(current.size / current.bytes_per_second * SAMPLE_RATE)
        ask = self.policy.mode == "model" and current.ends == "gateway" and self.on_turn_end is not None
        early = EarlyFinal(samples, stop)
        early.task = asyncio.create_task(self._early_final(current, chunks, stop, early if ask else None))
        early.task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a stale one's error is nobody's
        self._keep(early.task)
        current.early = early
        if ask:
            self._keep(asyncio.create_task(self._end_if_finished(client, current, early)))
        return early

    async def _end_if_finished(self, client: str, current: Utterance, early: EarlyFinal) -> None:
        """Once the pause's transcript is ready: end the turn if the model heard a finished one and
        the transcript reads like one (``TurnPolicy.finished``); else the fallback silence will."""
        try:
            transcript = await early.task
        except (Interrupted, RuntimeError, AudioError):
            return  # stale (the shopper spoke again) or failed: the final pass reports problems
        if not self.policy.finished(early.probability, early.text_probability, transcript.text):
            return
        if current.early is early and self.utterances.get(client) is current:
            self._end(client, current, "model")

    def _end(self, client: str, current: Utterance, reason: str) -> None:
        """The gateway ends the turn: the stream's next chunk starts a new one."""
        if self.utterances.get(client) is not current or self.on_turn_end is None:
            return
        del self.utterances[client]
        current.ended_by = reason
        self.ended[client] = current.next_seq
        self.answered.add(client)
        self._keep(asyncio.create_task(self.on_turn_end(client, current)))

    async def _early_final(
        self, current: Utterance, chunks: list[bytes], stop: threading.Event, ask: EarlyFinal | None = None
    ) -> Transcript:
        """The pause's transcript; with ``ask``, the end-of-turn model's verdict first (into
        ``ask.probability``), on the same worker so the two never slow each other down, and the
        transcript model's after it (``ask.text_probability``), set by the time the task is done."""
        audio = await asyncio.get_running_loop().run_in_executor(None, current.decode, chunks)
        if ask is not None and not stop.is_set():
            try:
                ask.probability = await self.speech.turn_complete(audio)
            except RuntimeError:  # the model failed on this audio: the fallback silence decides
                ask.probability = None
        transcript = await self.speech.transcribe(audio, stop=stop)
        if ask is not None:
            ask.text_probability = self.speech.text_complete(transcript.text)
        return transcript

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
