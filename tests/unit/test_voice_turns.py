"""Voice turns without a socket: chunk order and limits, the early final transcript, partials.

The recogniser here is a stand-in that writes down what it was asked to transcribe and how long
the audio was: these tests are about when the gateway asks (turn-taking), not what Whisper hears,
which tests/e2e/test_speech.py and the other end-to-end tests check with the real model.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.voice_turns import PAUSE_S, TurnError, TurnPolicy, Utterance, VoiceTurns, leaves_open
from voice.asr import Interrupted, Transcript
from voice.audio import SAMPLE_RATE, Audio

pytestmark = pytest.mark.anyio  # anyio's pytest plugin (installed with httpx) runs the coroutines


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class RecordingTranscriber:
    """Answers every request with the audio's length in words (or ``text``), after ``delay_s``;
    remembers requests. Its end-of-turn verdicts are ``finished`` for any audio and ``read`` for
    any transcript."""

    def __init__(
        self, delay_s: float = 0.0, finished: float | None = None, text: str | None = None, read: float | None = None
    ) -> None:
        self.ready, self.busy, self.delay_s = True, 0, delay_s
        self.requests: list[tuple[float, bool]] = []  # (seconds of audio, preview)
        self.stops: list[threading.Event] = []
        self.finished, self.text, self.read = finished, text, read
        self.asked: list[float] = []  # seconds of audio the end-of-turn model was given
        self.read_texts: list[str] = []  # transcripts the transcript model was given

    def text_complete(self, text: str) -> float | None:
        self.read_texts.append(text)
        return self.read

    async def turn_complete(self, audio: Audio) -> float | None:
        self.asked.append(round(audio.duration_s, 2))
        return self.finished

    async def transcribe(self, audio: Audio, preview: bool = False, stop: threading.Event | None = None) -> Transcript:
        self.requests.append((round(audio.duration_s, 2), preview))
        self.stops.append(stop or threading.Event())
        await asyncio.sleep(self.delay_s)
        if stop is not None and stop.is_set():
            raise Interrupted("stopped")
        return Transcript(
            text=self.text or f"{audio.duration_s:.1f} seconds",
            confidence=1.0,
            language="en",
            duration_s=audio.duration_s,
            decode_s=self.delay_s,
            speech_s=audio.duration_s,
        )


def pcm(seconds: float, loud: bool, rate: int = SAMPLE_RATE) -> bytes:
    n = int(seconds * rate)
    wave = np.sin(2 * np.pi * 220 * np.arange(n) / rate) * (9000 if loud else 0)
    return wave.astype("<i2").tobytes()


async def stream(turns: VoiceTurns, client: str, audio: bytes, chunk_s: float = 0.1, **first: object) -> None:
    """Chunks as a client sends them, the event loop running in between (as between socket events)."""
    size = int(chunk_s * SAMPLE_RATE) * 2
    for seq, start in enumerate(range(0, len(audio), size)):
        turns.receive(client, {"chunk": audio[start : start + size], "seq": seq, **(first if seq == 0 else {})})
        await asyncio.sleep(0)


def make(delay_s: float = 0.0) -> tuple[VoiceTurns, RecordingTranscriber]:
    speech = RecordingTranscriber(delay_s)
    return VoiceTurns(speech, max_bytes=2_000_000, max_seconds=30.0), speech


async def test_silence_after_speech_starts_the_final_transcript_before_the_audio_ends() -> None:
    turns, speech = make()
    await stream(turns, "a", pcm(1.0, True) + pcm(0.8, False))
    await asyncio.sleep(0.1)  # the early final decodes on a worker thread first
    assert speech.requests and not speech.requests[0][1], "an early final transcript was started"
    early_seconds = speech.requests[0][0]
    assert 1.0 + PAUSE_S <= early_seconds < 1.8
    transcript = await turns.finish("a")
    assert len(speech.requests) == 1, "the early transcript was used, not a second one"
    assert transcript.duration_s == pytest.approx(1.8, abs=0.01), "it reports the whole utterance"


async def test_speaking_again_after_a_pause_drops_the_early_transcript() -> None:
    turns, speech = make(delay_s=0.05)
    await stream(turns, "a", pcm(1.0, True) + pcm(0.8, False) + pcm(1.0, True))
    await asyncio.sleep(0.1)
    assert speech.stops[0].is_set(), "the stale early transcript was told to stop"
    transcript = await turns.finish("a")
    assert transcript.duration_s == pytest.approx(2.8, abs=0.01)
    assert speech.requests[-1] == (2.8, False), "the whole utterance was recognised at the end"


async def test_no_early_transcript_while_the_shopper_is_still_speaking() -> None:
    turns, speech = make()
    await stream(turns, "a", pcm(2.0, True))
    await asyncio.sleep(0)
    assert speech.requests == []
    await turns.finish("a")
    assert speech.requests == [(2.0, False)]


async def test_partials_only_when_asked_and_sent_to_the_sink() -> None:
    turns, speech = make()
    heard: list[tuple[str, str]] = []

    async def sink(client: str, transcript: Transcript) -> None:
        heard.append((client, transcript.text))

    turns.on_partial = sink
    await stream(turns, "a", pcm(2.5, True), partial=True)
    await stream(turns, "b", pcm(2.5, True))
    await asyncio.sleep(0.1)
    assert heard and {client for client, _ in heard} == {"a"}
    assert all(preview for _, preview in speech.requests)


async def test_bad_chunks_get_their_error_codes() -> None:
    turns, _ = make()
    cases = [
        ({"chunk": "text, not bytes", "seq": 0}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": "first"}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "channels": -1}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "channels": 100}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "channels": 3}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "sample_rate": 4000}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "sample_rate": 192000}, "bad_audio_chunk"),
        ({"chunk": b"\0\0", "seq": 0, "format": "aiff"}, "bad_audio_format"),
    ]
    for payload, code in cases:
        with pytest.raises(TurnError) as caught:
            turns.receive("a", payload)
        assert caught.value.code == code, payload
    turns.receive("a", {"chunk": b"\0\0", "seq": 0})
    with pytest.raises(TurnError) as caught:
        turns.receive("a", {"chunk": b"\0\0", "seq": 2})
    assert caught.value.code == "audio_out_of_order"
    assert "a" not in turns.utterances, "an out-of-order utterance is dropped"


async def test_too_much_audio_is_dropped_and_the_next_turn_works() -> None:
    speech = RecordingTranscriber()
    turns = VoiceTurns(speech, max_bytes=32_000, max_seconds=30.0)
    with pytest.raises(TurnError) as caught:
        await stream(turns, "a", pcm(1.5, True))
    assert caught.value.code == "audio_too_large"
    with pytest.raises(TurnError) as caught:
        await turns.finish("a")
    assert caught.value.code == "no_audio"
    await stream(turns, "a", pcm(0.5, True))
    assert (await turns.finish("a")).text == "0.5 seconds"


async def test_undecodable_audio_is_a_bad_audio_error() -> None:
    turns, _ = make()
    turns.receive("a", {"chunk": b"RIFF....WAVEfmt broken", "seq": 0, "format": "wav"})
    with pytest.raises(TurnError) as caught:
        await turns.finish("a")
    assert caught.value.code == "bad_audio"


async def test_streamed_pcm_is_capped_by_duration_while_it_arrives() -> None:
    speech = RecordingTranscriber()
    turns = VoiceTurns(speech, max_bytes=10_000_000, max_seconds=2.0)
    with pytest.raises(TurnError) as caught:
        await stream(turns, "a", pcm(3.0, True))
    assert caught.value.code == "audio_too_long"
    assert "a" not in turns.utterances, "nothing of it is kept"
    await stream(turns, "a", pcm(1.0, True), sample_rate=16000, channels=1)
    assert (await turns.finish("a")).text == "1.0 seconds"


async def test_stereo_at_48k_is_accepted() -> None:
    turns, _ = make()
    stereo = np.repeat(np.frombuffer(pcm(0.5, True, rate=48000), dtype="<i2"), 2).tobytes()
    turns.receive("a", {"chunk": stereo, "seq": 0, "sample_rate": 48000, "channels": 2})
    assert (await turns.finish("a")).duration_s == pytest.approx(0.5, abs=0.01)


def test_end_of_speech_reads_each_chunk_once() -> None:
    """Frame levels grow with the audio; a chunk's levels are never computed again (no re-decoding)."""
    from voice.audio import StreamingLevels

    levels = StreamingLevels(16000, 1)
    audio = pcm(1.0, True) + pcm(0.6, False)
    for start in range(0, len(audio), 3200 + 7):  # chunks that split frames and samples
        levels.feed(audio[start : start + 3200 + 7])
    assert len(levels.levels) == 80 and len(levels.rest) < levels.frame_bytes
    silence = levels.speech_end()[1]
    assert silence is not None and 0.3 <= silence <= 0.6
    stereo = StreamingLevels(48000, 2)
    stereo.feed(b"\0\0" * 48000 * 2)  # one second of stereo silence
    assert len(stereo.levels) == 50 and stereo.speech_end()[1] is None


class EndedTurns:
    """The socket layer's part: transcribes each turn the gateway ends, as SocketEvents.turn_ended does."""

    def __init__(self, turns: VoiceTurns) -> None:
        self.turns = turns
        self.ended: list[tuple[str, str, float, str]] = []  # (client, reason, audio seconds sent by then, text)
        self.sent_s = 0.0
        turns.on_turn_end = self.sink

    async def sink(self, client: str, utterance: Utterance) -> None:
        sent = self.sent_s
        transcript = await self.turns.transcribe(utterance)
        self.ended.append((client, utterance.ended_by, sent, transcript.text))


async def stream_on(turns: VoiceTurns, ended: EndedTurns, client: str, audio: bytes, first_seq: int = 0) -> int:
    """Like ``stream``, counting the seconds sent, with seq going on from ``first_seq``; returns the next seq."""
    size = int(0.1 * SAMPLE_RATE) * 2
    seq = first_seq
    for start in range(0, len(audio), size):
        turns.receive(client, {"chunk": audio[start : start + size], "seq": seq, "metadata": {"n": seq}})
        ended.sent_s += 0.1
        seq += 1
        await asyncio.sleep(0.005)  # the model and the early transcript run between chunks
    return seq


def gateway(
    mode: str, finished: float | None = 0.9, text: str | None = None, read: float | None = None
) -> tuple[VoiceTurns, RecordingTranscriber, EndedTurns]:
    speech = RecordingTranscriber(finished=finished, text=text, read=read)
    policy = TurnPolicy(
        mode=mode,
        threshold=0.5,
        text_threshold=0.7,
        silence_s=0.5,
        fallback_s=1.0,
        unfinished_below=0.3,
        long_fallback_s=2.0,
    )
    turns = VoiceTurns(speech, max_bytes=2_000_000, max_seconds=30.0, policy=policy)
    return turns, speech, EndedTurns(turns)


async def test_the_model_ends_a_finished_turn_at_the_first_pause_without_user_audio_end() -> None:
    turns, speech, ended = gateway("model", finished=0.9)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.8, False))
    assert len(ended.ended) == 1
    client, reason, sent_s, _ = ended.ended[0]
    assert (client, reason) == ("a", "model")
    assert sent_s < 1.0 + 0.5, "it ended within a few chunks of the pause, before a fixed 0.5 s silence"
    assert speech.asked and 1.0 + PAUSE_S <= speech.asked[0] < 1.5
    assert len([r for r in speech.requests if not r[1]]) == 1, "the early transcript was the final one"
    assert await turns.finish("a") is None, "a late user_audio_end after only silence says nothing more"


async def test_a_turn_the_model_hears_unfinished_waits_for_the_fallback_silence() -> None:
    turns, _, ended = gateway("model", finished=0.1)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.8, False))
    assert ended.ended == [], "an inner pause of 0.8 s does not end the turn"
    await stream_on(turns, ended, "a", pcm(0.5, False), first_seq=18)
    assert [reason for _, reason, _, _ in ended.ended] == ["fallback"]
    assert 1.0 + 1.0 <= ended.ended[0][2] <= 1.0 + 1.2


async def test_a_transcript_that_leaves_the_sentence_open_waits_for_the_fallback() -> None:
    turns, _, ended = gateway("model", finished=0.9, text="My order number is")
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.8, False))
    assert ended.ended == []
    await stream_on(turns, ended, "a", pcm(0.4, False), first_seq=18)
    assert [reason for _, reason, _, _ in ended.ended] == ["fallback"]


async def test_a_transcript_that_reads_unfinished_waits_for_the_long_fallback_whatever_the_audio_says() -> None:
    turns, speech, ended = gateway("model", finished=0.95, text="Can you show me?", read=0.2)
    seq = await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(1.5, False))
    assert ended.ended == [] and speech.read_texts == ["Can you show me?"], "1.5 s of quiet is not enough"
    await stream_on(turns, ended, "a", pcm(0.7, False), first_seq=seq)
    assert [reason for _, reason, _, _ in ended.ended] == ["fallback"]
    assert 1.0 + 2.0 <= ended.ended[0][2] <= 1.0 + 2.2


async def test_a_transcript_that_reads_neither_way_ends_at_the_fallback() -> None:
    turns, _, ended = gateway("model", finished=0.95, text="I'd like the delivery date", read=0.5)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(1.3, False))
    assert [reason for _, reason, _, _ in ended.ended] == ["fallback"]
    assert 1.0 + 1.0 <= ended.ended[0][2] <= 1.0 + 1.2


def test_the_fallback_waits_longer_only_for_words_that_read_unfinished() -> None:
    policy = TurnPolicy(fallback_s=1.0, unfinished_below=0.3, long_fallback_s=2.0)
    assert policy.waited_enough(1.0, 0.5)
    assert not policy.waited_enough(0.9, 0.5)
    assert policy.waited_enough(1.0, None), "no transcript (model) yet: the fallback decides"
    assert not policy.waited_enough(1.9, 0.1), "'order 100' is still being said"
    assert policy.waited_enough(2.0, 0.1), "nothing waits longer than the long fallback"
    assert TurnPolicy(fallback_s=1.0, unfinished_below=0.0).waited_enough(1.0, 0.1), "0 turns the long wait off"


def test_a_pause_ends_the_turn_only_when_both_models_agree() -> None:
    policy = TurnPolicy(threshold=0.3, text_threshold=0.7)
    assert policy.finished(0.4, 0.8, "Where is my parcel?")
    assert not policy.finished(0.2, 0.99, "Where is my parcel?"), "the audio says not yet"
    assert not policy.finished(0.99, 0.5, "Do you have?"), "the words say not yet"
    assert not policy.finished(0.99, 0.99, "My order number is"), "an open ending says not yet"
    assert not policy.finished(None, 0.99, "Where is my parcel?"), "no audio verdict: the fallback decides"
    assert policy.finished(0.4, None, "Where is my parcel?"), "without the transcript model, the audio decides"


async def test_speech_after_an_inner_pause_continues_the_same_turn() -> None:
    turns, speech, ended = gateway("model", finished=0.1)
    seq = await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.7, False) + pcm(1.0, True))
    assert ended.ended == [] and speech.stops[0].is_set(), "the pause's early transcript was stopped"
    await stream_on(turns, ended, "a", pcm(1.2, False), first_seq=seq)
    assert len(ended.ended) == 1 and ended.ended[0][3] == "2.9 seconds", "one turn holding both parts"


async def test_the_stream_going_on_after_an_ended_turn_is_the_next_turn() -> None:
    turns, _, ended = gateway("model", finished=0.9)
    seq = await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.6, False))
    assert len(ended.ended) == 1
    rest_of_pause_s = (seq - turns.ended["a"]) * 0.1  # chunks sent after the turn ended
    # The rest of the pause, then speech the client ends itself before any pause.
    seq = await stream_on(turns, ended, "a", pcm(0.8, True) + pcm(0.1, False), first_seq=seq)
    assert "a" in turns.utterances and turns.utterances["a"].next_seq == seq, "the chunks went on, in order"
    transcript = await turns.finish("a")
    assert transcript is not None and transcript.duration_s == pytest.approx(rest_of_pause_s + 0.9, abs=0.01)
    assert len(ended.ended) == 1


async def test_fixed_silence_mode_ends_after_its_silence_and_client_mode_never() -> None:
    turns, speech, ended = gateway("silence", finished=0.9)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.8, False))
    assert [reason for _, reason, _, _ in ended.ended] == ["silence"]
    assert 1.0 + 0.5 <= ended.ended[0][2] <= 1.0 + 0.6
    assert speech.asked == [], "the model is not asked in silence mode"
    turns, _, ended = gateway("client", finished=0.9)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(2.0, False))
    assert ended.ended == []
    assert (await turns.finish("a")) is not None


async def test_a_client_can_keep_the_end_of_its_turns_to_itself() -> None:
    turns, _, ended = gateway("model", finished=0.9)
    turns.receive("a", {"chunk": pcm(0.1, True), "seq": 0, "end_of_turn": "client"})
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(2.0, False), first_seq=1)
    assert ended.ended == []
    with pytest.raises(TurnError):
        turns.receive("b", {"chunk": pcm(0.1, True), "seq": 0, "end_of_turn": "whenever"})


async def test_without_the_model_turns_end_on_the_fallback_silence() -> None:
    turns, _, ended = gateway("model", finished=None)  # the model failed to load
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(1.3, False))
    assert [reason for _, reason, _, _ in ended.ended] == ["fallback"]


def test_open_endings() -> None:
    assert leaves_open("My order number is")
    assert leaves_open("I'd like the blue one and")
    assert leaves_open("Show me, um...")
    assert leaves_open("I want to return, uh")
    assert not leaves_open("Where is my order?")
    assert not leaves_open("Show me running shoes under $100.")
    assert not leaves_open("")


async def test_a_click_in_the_pause_does_not_restart_it() -> None:
    turns, _, ended = gateway("silence")
    click = pcm(0.04, True)
    await stream_on(turns, ended, "a", pcm(1.0, True) + pcm(0.26, False) + click + pcm(0.8, False))
    assert [reason for _, reason, _, _ in ended.ended] == ["silence"]
    assert ended.ended[0][2] <= 1.0 + 0.6, "the turn ended 0.5 s after the speech, not after the click"


async def test_an_open_microphone_goes_on_after_a_turn_too_long_to_keep() -> None:
    speech = RecordingTranscriber(finished=0.9)
    turns = VoiceTurns(speech, max_bytes=10_000_000, max_seconds=2.0, policy=TurnPolicy(mode="model"))
    ended = EndedTurns(turns)
    with pytest.raises(TurnError) as caught:
        await stream_on(turns, ended, "a", pcm(2.5, True))  # a noisy room: no pause for too long
    assert caught.value.code == "audio_too_long"
    seq = turns.ended["a"]
    await stream_on(turns, ended, "a", pcm(0.5, False) + pcm(1.0, True) + pcm(0.6, False), first_seq=seq)
    assert [reason for _, reason, _, _ in ended.ended] == ["model"], "the next turn was heard and ended"


async def test_user_audio_end_after_an_overlong_silent_stream_still_gets_an_answer() -> None:
    """Only a turn the gateway answered itself makes a later user_audio_end silent."""
    speech = RecordingTranscriber(finished=0.9)
    turns = VoiceTurns(speech, max_bytes=10_000_000, max_seconds=2.0, policy=TurnPolicy(mode="model"))
    ended = EndedTurns(turns)
    with pytest.raises(TurnError):
        await stream_on(turns, ended, "a", pcm(2.5, False))
    await stream_on(turns, ended, "a", pcm(0.5, False), first_seq=turns.ended["a"])
    assert await turns.finish("a") is not None, "the client's end is answered (here: silence)"
