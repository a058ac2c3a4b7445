"""A Socket.IO voice client for the Shopkeeper gateway.

    python -m voice.client --url http://localhost:8000 --file utterance.wav [--file next.wav ...]
    python -m voice.client --text "red running shoes under 100" --file follow_up.wav
    python -m voice.client --mic
    python -m voice.client --text "where is my order" --speak     # replies spoken by the server's voice
    python -m voice.client --listen --speak                          # hands-free: talk, interrupt the bot

Each ``--file``/``--text``/``--mic`` is one turn, in the order given, all in one conversation.
Audio is decoded locally to 16 kHz PCM16 and streamed in real-time sized chunks (``--fast``
sends them at once). Prints the transcript and the bot's replies; exits 1 on any error event
or when the gateway does not answer. ``--speak`` asks the gateway for spoken replies (``bot_audio``,
one WAV per sentence) and plays them; ``--save-speech DIR`` keeps them as files.

``--listen`` keeps the microphone open until Ctrl-C: the gateway decides when each turn ends, and
speaking over a spoken reply stops it (``voice/hands_free.py``). ``--listen-file FILE`` plays a
recording in as that microphone; ``--play-to FILE`` plays the replies into a WAV file instead of
the sound card, and ``--echo-gain G`` sends what is played back into the microphone at gain G, as
a loudspeaker would.
"""

from __future__ import annotations

import argparse
import io
import queue
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voice.audio import SAMPLE_RATE, AudioError, load_file, to_pcm16
from voice.hands_free import FileMicrophone, Frames, HandsFree, Microphone, Output, ReplyPlayer, SoundCard, WavOutput

CHUNK_S = 0.1


@dataclass
class TurnResult:
    transcript: dict[str, Any] | None = None
    partials: list[dict[str, Any]] = field(default_factory=list)  # transcripts while audio arrived
    replies: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    first_reply_s: float | None = None  # from the end of the user's audio/text to the first reply
    transcript_s: float | None = None
    speech: list[dict[str, Any]] = field(default_factory=list)  # bot_audio: {seq, text, format, audio, last}
    first_speech_s: float | None = None  # from the end of the user's turn to the first spoken sentence


def pcm16_chunks(samples: np.ndarray, chunk_s: float = CHUNK_S) -> Iterator[bytes]:
    pcm = to_pcm16(samples)
    step = int(SAMPLE_RATE * chunk_s) * 2
    for start in range(0, len(pcm), step):
        yield pcm[start : start + step]


class VoiceClient:
    """One conversation with the gateway over socket.io (Rasa's protocol plus voice events)."""

    def __init__(self, url: str, session_id: str | None = None, timeout: float = 60.0, speak: bool = False) -> None:
        import socketio

        self.url = url
        self.timeout = timeout
        self.sio = socketio.Client(reconnection=False)
        self.events: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        for name in ("session_confirm", "bot_uttered", "bot_audio", "transcript", "error", "turn_end"):
            self.sio.on(name, self._recorder(name))
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)
        self.sio.emit("session_request", {"session_id": session_id, "speak": speak})
        name, value, _ = self._next({"session_confirm"})
        self.session_id = str(value)

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(data: Any = None) -> None:
            self.events.put((name, data, time.perf_counter()))

        return record

    def _next(self, wanted: set[str]) -> tuple[str, Any, float]:
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {'/'.join(sorted(wanted))} from {self.url} within {self.timeout:.0f} s")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue  # the deadline check above reports it
            if event[0] in wanted:
                return event

    def next_reply(self) -> dict[str, Any]:
        """The next bot message, for a socket that watches a conversation someone else speaks in."""
        return dict(self._next({"bot_uttered"})[1])

    def collect(self, sent_at: float) -> TurnResult:
        """Events of one turn, up to ``turn_end`` or an error."""
        result = TurnResult()
        while True:
            name, data, at = self._next({"bot_uttered", "bot_audio", "transcript", "error", "turn_end"})
            if name == "bot_audio":
                result.speech.append(data)
                if result.first_speech_s is None:
                    result.first_speech_s = at - sent_at
            elif name == "transcript" and data.get("final") is False:
                result.partials.append(data)
            elif name == "transcript":
                result.transcript = data
                result.transcript_s = at - sent_at
            elif name == "bot_uttered":
                result.replies.append(data)
                if result.first_reply_s is None:
                    result.first_reply_s = at - sent_at
            elif name == "error":
                result.errors.append(data)
                return result
            else:
                return result

    def say_text(self, text: str, metadata: dict[str, Any] | None = None) -> TurnResult:
        sent = time.perf_counter()
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id, "metadata": metadata or {}})
        return self.collect(sent)

    def say_audio(
        self, samples: np.ndarray, realtime: bool = True, partials: bool = False, end_of_turn: str = "client"
    ) -> TurnResult:
        """Stream 16 kHz mono samples as PCM16 chunks, then end the utterance; ``partials`` asks for
        transcripts while the audio arrives. ``end_of_turn="gateway"`` lets the gateway end the turn
        when it hears the shopper finish (the samples then hold the open microphone's silence too);
        the closing ``user_audio_end`` is then ignored unless the gateway had not ended it."""
        self.stream_audio(samples, realtime=realtime, partials=partials, end_of_turn=end_of_turn)
        return self.say_encoded_end()

    def stream_audio(
        self,
        samples: np.ndarray,
        first_seq: int = 0,
        realtime: bool = True,
        partials: bool = False,
        end_of_turn: str = "gateway",
    ) -> int:
        """Send samples as an open microphone does, ``seq`` going on from ``first_seq``, without
        ending the turn; returns the next ``seq``. Chunk k leaves once its 100 ms were "recorded"."""
        started = time.perf_counter()
        seq = first_seq
        for index, chunk in enumerate(pcm16_chunks(samples)):
            if realtime:
                time.sleep(max(0.0, started + (index + 1) * CHUNK_S - time.perf_counter()))
            self.send_pcm(chunk, seq, partials=partials, end_of_turn=end_of_turn)
            seq += 1
        return seq

    def send_pcm(
        self, chunk: bytes | np.ndarray, seq: int, partials: bool = False, end_of_turn: str = "gateway"
    ) -> None:
        """One chunk of a PCM stream (PCM16 bytes, or float samples to convert)."""
        if isinstance(chunk, np.ndarray):
            chunk = to_pcm16(chunk)
        self.sio.emit(
            "user_audio",
            {
                "chunk": chunk,
                "session_id": self.session_id,
                "seq": seq,
                "format": "pcm16",
                "sample_rate": SAMPLE_RATE,
                "partial": partials,
                "end_of_turn": end_of_turn,
            },
        )

    def say_encoded(self, data: bytes, fmt: str, chunk_bytes: int = 16000) -> TurnResult:
        """Send an encoded recording (webm, ogg, wav...) in pieces, as a browser's MediaRecorder does."""
        for seq, start in enumerate(range(0, len(data), chunk_bytes)):
            self.sio.emit(
                "user_audio",
                {"chunk": data[start : start + chunk_bytes], "session_id": self.session_id, "seq": seq, "format": fmt},
            )
        return self.say_encoded_end()

    def say_encoded_end(self) -> TurnResult:
        sent = time.perf_counter()
        self.sio.emit("user_audio_end", {"session_id": self.session_id})
        return self.collect(sent)

    def close(self) -> None:
        self.sio.disconnect()

    def __enter__(self) -> VoiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_microphone(max_s: float = 15.0, silence_s: float = 1.0) -> np.ndarray:
    """Record from the default input until ``silence_s`` of quiet after speech (or ``max_s``)."""
    try:
        import sounddevice
    except OSError as error:  # PortAudio missing
        raise AudioError(f"no microphone support ({error}); install PortAudio (libportaudio2)") from error
    try:
        sounddevice.check_input_settings(samplerate=SAMPLE_RATE, channels=1)
    except Exception as error:  # noqa: BLE001 - sounddevice raises several kinds for "no device"
        raise AudioError(f"no usable input device: {error}") from error
    blocks: list[np.ndarray] = []
    quiet, heard = 0.0, False
    print("Listening... (speak; a pause ends the turn)", file=sys.stderr)
    with sounddevice.InputStream(samplerate=SAMPLE_RATE, channels=1, dtype="float32") as stream:
        while sum(len(b) for b in blocks) < max_s * SAMPLE_RATE:
            block, _ = stream.read(int(SAMPLE_RATE * CHUNK_S))
            blocks.append(block[:, 0].copy())
            loud = float(np.sqrt(np.mean(block**2))) > 0.01
            heard |= loud
            quiet = 0.0 if loud else quiet + CHUNK_S
            if heard and quiet >= silence_s:
                break
    return np.concatenate(blocks)


def play(result: TurnResult, save_to: Path | None, turn: int) -> None:
    """Play the spoken replies (sounddevice), or keep them as WAV files in ``save_to``."""
    for piece in result.speech:
        if save_to is not None:
            save_to.mkdir(parents=True, exist_ok=True)
            (save_to / f"turn{turn}-{piece['seq']:02d}.wav").write_bytes(piece["audio"])
            continue
        try:
            import sounddevice
            import soundfile

            samples, rate = soundfile.read(io.BytesIO(piece["audio"]), dtype="float32")
            sounddevice.play(samples, rate, blocking=True)
        except (OSError, RuntimeError) as error:  # no PortAudio or no output device
            print(f"error: cannot play the spoken reply ({error}); use --save-speech DIR", file=sys.stderr)
            return


def _show(name: str, data: dict[str, Any]) -> None:
    """A gateway event of a hands-free conversation, as it comes."""
    if name == "transcript":
        print(f"you (heard): {data.get('text', '')}  [ended by {data.get('ended_by', 'you')}]", flush=True)
    elif name == "bot_uttered":
        _print(TurnResult(replies=[data]))
    elif name == "error":
        print(f"error: {data.get('message')}", file=sys.stderr, flush=True)


def listen(client: VoiceClient, args: argparse.Namespace) -> int:
    """The hands-free conversation of ``--listen`` / ``--listen-file``."""
    microphone: Frames
    if args.listen_file:
        microphone = FileMicrophone(load_file(args.listen_file).samples, echo_gain=args.echo_gain)
    else:
        microphone = Microphone()
        print("Listening: speak when you like, and over the bot to interrupt it. Ctrl-C ends.", file=sys.stderr)
    player = None
    if args.speak:
        output: Output = WavOutput(args.play_to) if args.play_to else SoundCard()
        if isinstance(output, WavOutput) and isinstance(microphone, FileMicrophone):
            output.listeners.append(microphone.hear)
        player = ReplyPlayer(output)
    try:
        result = HandsFree(client, player, _show).run(microphone)
    except KeyboardInterrupt:
        return 0
    finally:
        if player is not None:
            player.close()
    for barge_in in result.barge_ins:
        print(f"(you interrupted the bot: it stopped {barge_in.stopped_at - barge_in.onset_at:.2f} s after you began)")
    return 1 if result.errors else 0


def _print(result: TurnResult) -> None:
    if result.transcript is not None:
        print(
            f"you (heard): {result.transcript.get('text', '')}  "
            f"[confidence {result.transcript.get('confidence', 0):.2f}]"
        )
    for reply in result.replies:
        if reply.get("text"):
            print(f"bot: {reply['text']}")
        for button in reply.get("quick_replies") or []:
            print(f"     [{button.get('title')}]")
        if reply.get("attachment"):
            print(f"bot: <{reply['attachment'].get('type')}> {reply['attachment'].get('payload')}")
    for error in result.errors:
        print(f"error: {error.get('message')}", file=sys.stderr)


class _Turn(argparse.Action):
    """Keep --file/--text/--mic in the order given: each is one turn."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        turns = getattr(namespace, "turns", None) or []
        turns.append((self.dest, values))
        namespace.turns = turns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voice.client", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--file", action=_Turn, help="an audio file to say (repeatable)")
    parser.add_argument("--text", action=_Turn, help="a typed message (repeatable)")
    parser.add_argument("--mic", action=_Turn, nargs=0, help="record one turn from the microphone")
    parser.add_argument("--fast", action="store_true", help="send audio at once, not in real time")
    parser.add_argument("--session", default=None, help="continue this conversation id")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--speak", action="store_true", help="ask for spoken replies and play them")
    parser.add_argument("--save-speech", type=Path, help="with --speak: keep the spoken replies as WAV files here")
    parser.add_argument("--listen", action="store_true", help="hands-free: an open microphone until Ctrl-C")
    parser.add_argument("--listen-file", type=Path, help="hands-free, with this recording as the microphone")
    parser.add_argument("--play-to", type=Path, help="hands-free with --speak: play the replies into this WAV file")
    parser.add_argument("--echo-gain", type=float, default=0.0, help="with --listen-file and --play-to: echo level")
    args = parser.parse_args(argv)
    turns = getattr(args, "turns", None) or []
    hands_free = args.listen or args.listen_file is not None
    if hands_free == bool(turns):
        parser.error("give --file, --text or --mic turns, or --listen / --listen-file (not both)")
    if not 0.0 <= args.echo_gain <= 1.0:
        parser.error("--echo-gain is between 0 and 1")
    try:
        client = VoiceClient(args.url, args.session, timeout=args.timeout, speak=args.speak or bool(args.save_speech))
    except Exception as error:  # noqa: BLE001 - connection errors come in many types
        print(f"error: cannot connect to {args.url}: {error}", file=sys.stderr)
        return 1
    if hands_free:
        with client:
            try:
                return listen(client, args)
            except (AudioError, OSError) as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
    failed = False
    with client:
        for number, (kind, value) in enumerate(turns, start=1):
            try:
                if kind == "text":
                    print(f"you: {value}")
                    result = client.say_text(value)
                elif kind == "file":
                    result = client.say_audio(load_file(value).samples, realtime=not args.fast)
                else:
                    result = client.say_audio(record_microphone(), realtime=False)
            except (AudioError, OSError, TimeoutError) as error:
                print(f"error: {error or 'no answer from the gateway'}", file=sys.stderr)
                failed = True
                continue
            _print(result)
            if args.speak or args.save_speech:
                play(result, args.save_speech, number)
            failed |= bool(result.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
