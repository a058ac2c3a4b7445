"""Hands-free talk for the voice client: an open microphone, spoken replies, and barge-in.

The microphone streams to the gateway all the time and the gateway decides when each turn ends
(``bot/voice_turns.py``). While a reply is spoken through a loudspeaker, the client holds the
microphone back: the loudspeaker's echo would otherwise be heard as the shopper. It keeps the last
300 ms instead. When the shopper speaks over the reply, louder than the echo it has been hearing,
the reply stops and the held audio goes out first, so the new turn is heard from its first syllable.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voice.audio import SAMPLE_RATE, AudioError, decode, rms

FRAME_S = 0.02  # the detector's step: a stop must come well within 200 ms of the first syllable
FRAME = int(SAMPLE_RATE * FRAME_S)
CHUNK_FRAMES = 5  # 100 ms per socket.io message, as the widget sends
PRE_ROLL_FRAMES = 15  # 300 ms held while the bot speaks, sent when the shopper barges in
ONSET_FRAMES = 4  # 80 ms of speech over the reply interrupts it
ECHO_MARGIN = 2.0  # the shopper must be this much louder than the echo expected
ECHO_WINDOW_S = 0.2  # a played block is heard back for this long (the loudspeaker's delay, the room)
COUPLING_FRAMES = 150  # the echo's gain is estimated over the last 3 s of the bot's speech
ECHO_WARMUP_FRAMES = 15  # the first 300 ms of the bot's speech teach the detector its echo
AUDIBLE = 0.01  # a played level below this (a pause between words) teaches nothing about the echo


class Output(Protocol):
    """Where replies are played: ``write`` blocks for about the block's duration."""

    def write(self, block: np.ndarray) -> None: ...

    def cut(self) -> None: ...

    def close(self) -> None: ...


class SoundCard:
    """The default output device (sounddevice), fed 20 ms at a time so a stop is heard at once."""

    def __init__(self) -> None:
        try:
            import sounddevice
        except OSError as error:  # PortAudio missing
            raise AudioError(f"no sound output ({error}); install PortAudio (libportaudio2)") from error
        try:
            self.stream = sounddevice.OutputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=FRAME, latency="low"
            )
            self.stream.start()
        except Exception as error:  # noqa: BLE001 - sounddevice raises several kinds for "no device"
            raise AudioError(f"no usable output device: {error}") from error

    def write(self, block: np.ndarray) -> None:
        self.stream.write(block.reshape(-1, 1).astype(np.float32))

    def cut(self) -> None:
        self.stream.abort()  # drops what is buffered, then plays on from silence
        self.stream.start()

    def close(self) -> None:
        self.stream.close()


class WavOutput:
    """Plays into a WAV file in real time: what the shopper would have heard, cut where they spoke."""

    def __init__(self, path: Path) -> None:
        import soundfile

        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = soundfile.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16")
        self.next_at: float | None = None
        self.listeners: list[Callable[[np.ndarray], None]] = []  # e.g. a room's echo path

    def write(self, block: np.ndarray) -> None:
        now = time.perf_counter()
        due = max(now, self.next_at or now)  # right after the last block, or now after a pause or a cut
        time.sleep(due - now)
        self.file.write(block)
        for listener in self.listeners:
            listener(block)
        self.next_at = due + len(block) / SAMPLE_RATE

    def cut(self) -> None:
        self.next_at = None

    def close(self) -> None:
        self.file.close()


@dataclass
class Played:
    text: str
    started_at: float
    ended_at: float | None = None
    interrupted: bool = False


class ReplyPlayer:
    """Plays spoken sentences in order on its own thread; ``interrupt`` stops the one playing and drops
    the queued ones. Each sentence carries the generation it was queued in: an interrupt starts a new one."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.pending: queue.Queue[tuple[int, str, np.ndarray] | None] = queue.Queue()
        self.generation = 0
        self.busy = False
        self.log: list[Played] = []
        self.written: deque[tuple[float, float]] = deque(maxlen=50)  # (when, RMS) of the blocks played
        self.thread = threading.Thread(target=self._run, name="reply-player", daemon=True)
        self.thread.start()

    @property
    def playing(self) -> bool:
        return self.busy or not self.pending.empty()

    def loudness(self, window_s: float = ECHO_WINDOW_S) -> float | None:
        """The loudest level played in the last ``window_s`` (its echo may still be heard); None when
        nothing is playing or was played that recently."""
        since = time.perf_counter() - window_s
        recent = [level for at, level in list(self.written) if at >= since]
        if not self.playing and not recent:
            return None
        return max(recent, default=0.0)

    def add(self, text: str, samples: np.ndarray) -> None:
        self.pending.put((self.generation, text, samples))

    def interrupt(self) -> None:
        self.generation += 1
        while not self.pending.empty():  # what was queued of this reply is not played
            try:
                self.pending.get_nowait()
            except queue.Empty:
                break
        self.busy = False  # the thread stops the sentence within a block
        self.output.cut()

    def _run(self) -> None:
        while (item := self.pending.get()) is not None:
            generation, text, samples = item
            if generation != self.generation:
                self.busy = not self.pending.empty()
                continue
            self.busy = True
            played = Played(text, time.perf_counter())
            self.log.append(played)
            for start in range(0, len(samples), FRAME):
                if generation != self.generation:
                    played.interrupted = True
                    break
                block = samples[start : start + FRAME]
                self.output.write(block)
                self.written.append((time.perf_counter(), rms(block)))
            played.ended_at = time.perf_counter()
            self.busy = not self.pending.empty()

    def close(self) -> None:
        self.interrupt()
        self.pending.put(None)
        self.thread.join(5)
        self.output.close()


class BargeInDetector:
    """Is the shopper speaking over the bot? Its own voice comes back through the microphone too, so
    a frame counts as the shopper's when it is louder than the room's noise (×7), an absolute floor,
    and ``margin`` times the echo expected from what the loudspeaker just played. The echo's gain (loudspeaker
    to microphone) is learned from the frames that were not the shopper's: the 90th percentile of
    microphone/played levels over the last 3 s of the bot's speech. Nothing interrupts until 300 ms
    of the bot's speech have taught it that gain."""

    def __init__(self, margin: float = ECHO_MARGIN, onset_frames: int = ONSET_FRAMES) -> None:
        self.margin = margin
        self.onset_frames = onset_frames
        self.noise_floor = 0.01
        self.loud_run = 0
        self.ratios: deque[float] = deque(maxlen=COUPLING_FRAMES)
        self.learned = 0  # frames that taught the echo gain, over the whole conversation

    def coupling(self) -> float:
        return float(np.percentile(list(self.ratios), 90)) if self.ratios else 1.0

    def feed(self, level: float, played: float | None) -> bool:
        """Take one microphone frame's RMS level and the loudest level played in the last 200 ms
        (None when the bot is silent); True once the shopper has spoken 80 ms over the bot."""
        if played is None:
            # The floor follows the room between replies: quickly down, slowly up.
            rate = 0.5 if level < self.noise_floor else 0.005
            self.noise_floor += (level - self.noise_floor) * rate
            self.loud_run = 0
            return False
        threshold = max(self.noise_floor * 7, 0.024, self.margin * self.coupling() * played)
        if self.learned >= ECHO_WARMUP_FRAMES and level > threshold:
            self.loud_run += 1
            return self.loud_run >= self.onset_frames
        self.loud_run = 0
        if played > AUDIBLE:
            self.ratios.append(level / played)
            self.learned += 1
        return False


@dataclass
class BargeIn:
    onset_at: float  # perf_counter time of the first loud frame
    stopped_at: float  # when the reply was stopped


@dataclass
class Conversation:
    transcripts: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    barge_ins: list[BargeIn] = field(default_factory=list)
    turns_ended: int = 0  # turn_end events: every reply of a turn is out


class Frames(Protocol):
    """A microphone: 20 ms frames with the perf_counter time each was complete."""

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]: ...


class Microphone:
    """The default input device, read 20 ms at a time until ``stop`` is set (Ctrl-C in the CLI)."""

    def __init__(self) -> None:
        try:
            import sounddevice
        except OSError as error:
            raise AudioError(f"no microphone support ({error}); install PortAudio (libportaudio2)") from error
        try:
            sounddevice.check_input_settings(samplerate=SAMPLE_RATE, channels=1)
        except Exception as error:  # noqa: BLE001 - sounddevice raises several kinds for "no device"
            raise AudioError(f"no usable input device: {error}") from error
        self.sounddevice = sounddevice
        self.stop = threading.Event()

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        with self.sounddevice.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=FRAME) as s:
            while not self.stop.is_set():
                block, _ = s.read(FRAME)
                yield block[:, 0].copy(), time.perf_counter()


class FileMicrophone:
    """A recording played into the conversation as if spoken now (real time), with an optional
    echo path: what the output plays comes back in at ``echo_gain``, as from a loudspeaker."""

    def __init__(self, samples: np.ndarray, echo_gain: float = 0.0) -> None:
        self.samples = samples.astype(np.float32)
        self.echo_gain = echo_gain
        self.echo: deque[np.ndarray] = deque()
        self.started: float | None = None

    def hear(self, block: np.ndarray) -> None:
        if self.echo_gain:
            self.echo.append(block * self.echo_gain)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        self.started = time.perf_counter()
        for index, start in enumerate(range(0, len(self.samples) - FRAME + 1, FRAME)):
            due = self.started + (index + 1) * FRAME_S
            time.sleep(max(0.0, due - time.perf_counter()))
            frame = self.samples[start : start + FRAME].copy()
            if self.echo:
                played = self.echo.popleft()
                frame[: len(played)] += played
            yield frame, due


class HandsFree:
    """One hands-free conversation: streams the microphone, shows and plays what comes back."""

    def __init__(
        self,
        client: Any,  # voice.client.VoiceClient (not imported: that module imports this one)
        player: ReplyPlayer | None,
        show: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.player = player
        self.show = show or (lambda name, data: None)
        self.result = Conversation()
        self.interrupted = False  # the shopper spoke over the reply: its other sentences are not played
        self.last_event = time.perf_counter()
        self.done = threading.Event()
        self.listener = threading.Thread(target=self._listen, name="gateway-events", daemon=True)

    def run(self, microphone: Frames, linger_s: float = 3.0) -> Conversation:
        """Stream until the microphone ends, then wait until the replies stop coming and playing."""
        self.listener.start()
        detector = BargeInDetector()
        held: deque[np.ndarray] = deque(maxlen=PRE_ROLL_FRAMES)
        pending: list[np.ndarray] = []
        seq = 0
        try:
            for frame, recorded_at in microphone:
                played = self.player.loudness() if self.player is not None else None
                bot_speaking = played is not None and not self.interrupted  # not the echo's tail after a barge-in
                onset = detector.feed(rms(frame), played)
                if bot_speaking and not onset:
                    if pending:  # what came before the reply goes out now
                        seq = self._send(pending, seq)
                    held.append(frame)
                    continue
                if bot_speaking and self.player is not None:
                    self.player.interrupt()
                    self.interrupted = True
                    self.result.barge_ins.append(
                        BargeIn(onset_at=recorded_at - detector.onset_frames * FRAME_S, stopped_at=time.perf_counter())
                    )
                    pending.extend(held)  # the shopper's first syllables, held while the bot spoke
                held.clear()  # after a reply that ended by itself, what was held is its echo
                pending.append(frame)
                if len(pending) >= CHUNK_FRAMES:
                    seq = self._send(pending, seq)
            if pending:
                seq = self._send(pending, seq)
            deadline = time.perf_counter() + float(getattr(self.client, "timeout", 60.0))
            while time.perf_counter() < deadline and (
                time.perf_counter() - self.last_event < linger_s
                or self.result.turns_ended + len(self.result.errors) < len(self.result.transcripts)  # not answered yet
                or (self.player is not None and self.player.playing)
            ):
                time.sleep(0.05)
        finally:
            self.done.set()
            self.listener.join(2)
        return self.result

    def _send(self, frames: list[np.ndarray], seq: int) -> int:
        self.client.send_pcm(np.concatenate(frames), seq, end_of_turn="gateway")
        frames.clear()
        return seq + 1

    def _listen(self) -> None:
        while not self.done.is_set():
            try:
                name, data, at = self.client.events.get(timeout=0.1)
            except queue.Empty:
                continue
            self.last_event = at
            if name == "transcript" and data.get("final") is not False:
                self.result.transcripts.append(data)
            elif name == "bot_uttered":
                self.result.replies.append(data)
            elif name == "error":
                self.result.errors.append(data)
            elif name == "turn_end":
                self.result.turns_ended += 1
            elif name == "bot_audio":
                self._play(data)
                continue
            self.show(name, data)

    def _play(self, piece: dict[str, Any]) -> None:
        if piece.get("seq") == 0:
            self.interrupted = False  # a new reply
        if self.interrupted or self.player is None:
            return
        try:
            self.player.add(str(piece.get("text", "")), decode(piece["audio"]).samples)
        except (AudioError, KeyError, TypeError) as error:
            print(f"error: a spoken reply could not be played ({error})", file=sys.stderr)
