"""The gateway end to end: real Rasa, action server and speech model, over socket.io and HTTP.

A voice turn goes file → PCM16 chunks → transcript → the bot's replies; text turns use Rasa's
own socket.io protocol; bad input gets an ``error`` event and the conversation goes on.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from bot.launcher import DEFAULT_MODEL, Services
from bot.replies import to_socketio
from tests.audio_helpers import encode_with_av
from voice.asr import Recognizer
from voice.audio import SAMPLE_RATE, decode, load_file, speech_bounds
from voice.client import VoiceClient
from voice.wer import wer

needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no trained model: run `make train` first")


def texts(result: object) -> str:
    return "\n".join(r.get("text", "") for r in result.replies)  # type: ignore[attr-defined]


# -- reply translation (no servers) -----------------------------------------------------------
def test_rest_replies_become_rasa_socketio_messages() -> None:
    buttons = to_socketio(
        {"text": "Pick one.\n\nOr say more.", "buttons": [{"title": "Cheaper", "payload": "/cheaper"}]}
    )
    assert buttons == [
        {"text": "Pick one."},
        {
            "text": "Or say more.",
            "quick_replies": [{"content_type": "text", "title": "Cheaper", "payload": "/cheaper"}],
        },
    ]
    assert to_socketio({"image": "http://x/a.png"}) == [
        {"attachment": {"type": "image", "payload": {"src": "http://x/a.png"}}}
    ]
    carousel = {"type": "template", "payload": {"template_type": "generic", "elements": [{"title": "A"}]}}
    assert to_socketio({"attachment": carousel}) == [{"attachment": carousel}]
    assert to_socketio({"custom": {"products": [1, 2]}}) == [{"products": [1, 2]}]


# -- through the running servers --------------------------------------------------------------
@needs_model
def test_health_and_docs_report_every_part(services: Services) -> None:
    health = httpx.get(f"{services.gateway_url}/health", timeout=30).json()
    assert health["rasa"] and health["actions"] and health["asr"]["ready"], health
    assert health["status"] == "ok"
    assert httpx.get(f"{services.gateway_url}/docs", timeout=10).status_code == 200
    spec = httpx.get(f"{services.gateway_url}/openapi.json", timeout=10).json()
    assert {"/api/transcribe", "/health"} <= set(spec["paths"])


@needs_model
def test_transcribe_endpoint_and_its_errors(services: Services, speak: Callable[..., Path]) -> None:
    wav = speak("do you have hiking boots")
    ok = httpx.post(f"{services.gateway_url}/api/transcribe", files={"file": ("q.wav", wav.read_bytes())}, timeout=120)
    assert ok.status_code == 200, ok.text
    assert wer("do you have hiking boots", ok.json()["text"]) <= 0.2
    bad = httpx.post(f"{services.gateway_url}/api/transcribe", files={"file": ("q.wav", b"no sound here")}, timeout=60)
    assert bad.status_code == 400 and "could not be decoded" in bad.json()["detail"]
    # A body announced as 20 MB is refused from its headers alone: nothing of it is sent or read.
    with socket.create_connection(("127.0.0.1", services.gateway_port), timeout=30) as raw:
        raw.sendall(
            b"POST /api/transcribe HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20000000\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        assert raw.recv(200).startswith(b"HTTP/1.1 413"), "refused before the body"


@needs_model
def test_voice_turn_then_text_turn_in_one_conversation(services: Services, speak: Callable[..., Path]) -> None:
    with VoiceClient(services.gateway_url, timeout=120) as client:
        voice = client.say_audio(
            load_file(speak("show me running shoes under one hundred dollars")).samples, realtime=False
        )
        assert not voice.errors, voice.errors
        assert voice.transcript and voice.transcript["final"] is True
        assert wer("show me running shoes under one hundred dollars", voice.transcript["text"]) <= 0.3
        assert "shoes" in texts(voice).lower(), texts(voice)
        assert any(r.get("quick_replies") for r in voice.replies), "buttons arrive as rasa-webchat quick replies"
        # The next typed turn refers to the spoken one's results: the same conversation.
        first = re.findall(r"^\s*1\. (.+?) - \$", texts(voice), flags=re.M)
        details = client.say_text("tell me about the first one")
        assert first and first[0] in texts(details) and "Material" in texts(details)


@needs_model
def test_partial_transcripts_arrive_while_speaking_when_asked(services: Services, speak: Callable[..., Path]) -> None:
    sentence = "do you have a blue rain jacket in medium"
    samples = load_file(speak(sentence)).samples
    with VoiceClient(services.gateway_url, timeout=120) as client:
        asked = client.say_audio(samples, realtime=True, partials=True)
        plain = client.say_audio(samples, realtime=True)
    assert not asked.errors and asked.transcript and asked.transcript["final"] is True
    assert asked.partials and all(p["final"] is False and p["text"] for p in asked.partials)
    # A partial covers only the audio so far: never longer than the whole utterance.
    assert all(p["duration_s"] < asked.transcript["duration_s"] for p in asked.partials)
    assert wer(sentence, asked.transcript["text"]) <= 0.25
    assert plain.partials == [] and plain.transcript


@needs_model
def test_browser_webm_recording_is_understood(services: Services, speak: Callable[..., Path]) -> None:
    samples = load_file(speak("where is my order")).samples
    webm = encode_with_av(samples, 16000, "webm", "libopus")
    with VoiceClient(services.gateway_url, timeout=120) as client:
        result = client.say_encoded(webm, "webm", chunk_bytes=4000)
    assert not result.errors and result.transcript
    assert wer("where is my order", result.transcript["text"]) <= 0.25
    assert "order number" in texts(result).lower()


@needs_model
def test_bad_input_gets_an_error_and_the_conversation_goes_on(services: Services) -> None:
    with VoiceClient(services.gateway_url, timeout=120) as client:
        client.say_text("show me headphones")
        broken = client.say_encoded(b"definitely not audio" * 100, "webm")
        assert broken.errors and broken.errors[0]["code"] == "bad_audio" and not broken.replies
        assert client.say_text("").errors[0]["code"] == "empty_message"
        assert client.say_text("x" * 10_000).errors[0]["code"] == "message_too_long"
        silence = client.say_audio(np.zeros(16000 * 2, np.float32), realtime=False)
        assert silence.errors[0]["code"] == "no_speech"
        # Out-of-order chunks drop the utterance with a clear message.
        client.sio.emit("user_audio", {"chunk": b"\0\0" * 800, "seq": 5, "format": "pcm16"})
        out_of_order = client.collect(0.0)
        assert out_of_order.errors[0]["code"] in {"audio_out_of_order"}
        client.sio.emit("user_audio", {"chunk": b"\0\0", "seq": "first", "format": "pcm16"})
        assert client.collect(0.0).errors[0]["code"] == "bad_audio_chunk"
        html = client.say_text("<b>red</b> <script>alert(1)</script> headphones")
        assert html.replies and "<script>" not in texts(html)
        # After all that, the earlier context is still there.
        after = client.say_text("tell me about the second one")
        assert "Headphones" in texts(after) or "headphones" in texts(after).lower(), texts(after)


@needs_model
def test_two_concurrent_voice_sessions_do_not_mix(services: Services, speak: Callable[..., Path]) -> None:
    requests = {"shoes": "show me running shoes", "order": "where is my order"}
    results: dict[str, object] = {}

    def converse(key: str) -> None:
        with VoiceClient(services.gateway_url, timeout=180) as client:
            results[key] = client.say_audio(load_file(speak(requests[key], "rms")).samples, realtime=True)

    threads = [threading.Thread(target=converse, args=(k,)) for k in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    shoes, order = results["shoes"], results["order"]
    assert "Running Shoes" in texts(shoes) and "order number" not in texts(shoes).lower()
    assert "order number" in texts(order).lower() and "Running Shoes" not in texts(order)
    # Each session got its own transcript.
    assert "running" in shoes.transcript["text"].lower() and "order" in order.transcript["text"].lower()  # type: ignore[attr-defined]


@needs_model
def test_a_pause_inside_an_utterance_does_not_cut_it_short(services: Services, speak: Callable[..., Path]) -> None:
    # The gateway starts the final transcript when speech is followed by silence; more speech
    # after the pause must replace that early transcript, not be lost.
    first, second = "show me the blue rain jackets", "in size medium please"
    pause = np.zeros(int(1.5 * SAMPLE_RATE), np.float32)
    samples = np.concatenate([load_file(speak(first)).samples, pause, load_file(speak(second)).samples, pause])
    with VoiceClient(services.gateway_url, timeout=120) as client:
        result = client.say_audio(samples, realtime=True)
    assert not result.errors and result.transcript, result.errors
    assert wer(f"{first} {second}", result.transcript["text"]) <= 0.3, result.transcript["text"]


def voiced(samples: np.ndarray) -> np.ndarray:
    start, end = speech_bounds(samples, margin_s=0.0)
    return samples[start:end]


def open_microphone(speech: np.ndarray, silence_s: float) -> np.ndarray:
    return np.concatenate([speech, np.zeros(int(silence_s * SAMPLE_RATE), np.float32)])


@needs_model
def test_the_gateway_ends_finished_turns_of_an_open_microphone(services: Services, speak: Callable[..., Path]) -> None:
    """Hands-free: the client streams on and never ends a turn; the gateway hears each one end,
    answers it, and takes the chunks that follow as the next turn."""
    first = load_file(speak("where is my order")).samples
    second = load_file(speak("show me running shoes")).samples
    with VoiceClient(services.gateway_url, timeout=120) as client:
        seq = client.stream_audio(open_microphone(first, 2.0))
        one = client.collect(0.0)  # arrived while the microphone was still open
        seq = client.stream_audio(open_microphone(second, 2.0), first_seq=seq)
        two = client.collect(0.0)
        client.sio.emit("user_audio_end", {"session_id": client.session_id})  # late: nothing more to say
        after = client.say_text("thanks")
    for result, words, reply in (
        (one, "where is my order", "order number"),
        (two, "show me running shoes", "Running Shoes"),
    ):
        assert not result.errors and result.transcript, result.errors
        assert result.transcript["ended_by"] in {"model", "fallback"}, result.transcript
        assert 0.0 <= result.transcript["end_of_turn_text_p"] <= 1.0, "the transcript model read the turn too"
        assert wer(words, result.transcript["text"]) <= 0.25, result.transcript["text"]
        assert reply.lower() in texts(result).lower(), texts(result)
    # Each ended turn holds its speech and no more than the fallback silence after it.
    assert one.transcript["duration_s"] <= len(first) / SAMPLE_RATE + 1.3
    assert not after.errors and after.replies, "the late user_audio_end left no error or stray turn behind"


@needs_model
@pytest.mark.parametrize(
    ("said_first", "said_then"),
    [("show me the", "blue rain jackets"), ("can you show me", "the blue rain jackets")],
    ids=["open word", "unfinished request"],
)
def test_a_pause_inside_a_request_does_not_end_the_turn(
    services: Services, speak: Callable[..., Path], said_first: str, said_then: str
) -> None:
    """An open last word ("the") or a request that reads unfinished ("can you show me", said as a
    whole sentence, so its voice falls as at a full stop) waits for the rest."""
    # The clips cut to their voiced part, so the pause is 0.7 s of quiet: under the 1.0 s fallback.
    start, rest = (voiced(load_file(speak(text)).samples) for text in (said_first, said_then))
    pause = np.zeros(int(0.7 * SAMPLE_RATE), np.float32)
    with VoiceClient(services.gateway_url, timeout=120) as client:
        client.stream_audio(open_microphone(np.concatenate([start, pause, rest]), 2.0))
        result = client.collect(0.0)
    assert not result.errors and result.transcript, result.errors
    assert wer(f"{said_first} {said_then}", result.transcript["text"]) <= 0.35, result.transcript
    assert "jacket" in texts(result).lower(), texts(result)


@needs_model
def test_spoken_replies_for_clients_that_ask(services: Services, recognizer: Recognizer, tmp_path: Path) -> None:
    """bot_audio: each sentence of the replies as WAV, heard back by the recogniser as that sentence;
    the voice client's --speak keeps them (--save-speech); a client that does not ask gets none."""
    with VoiceClient(services.gateway_url, timeout=120, speak=True) as client:
        spoken = client.say_text("where is my order")
    with VoiceClient(services.gateway_url, timeout=120) as client:
        silent = client.say_text("where is my order")
    assert not spoken.errors and spoken.speech and silent.speech == []
    assert [piece["seq"] for piece in spoken.speech] == list(range(len(spoken.speech)))
    assert spoken.speech[-1]["last"] and not any(piece["last"] for piece in spoken.speech[:-1])
    assert spoken.first_speech_s is not None and spoken.first_reply_s is not None
    first = spoken.speech[0]
    assert first["text"] and first["text"].split()[0].lower() in texts(spoken).lower()
    audio = decode(first["audio"])
    assert audio.duration_s > 0.5
    assert wer(first["text"], recognizer.transcribe(audio.samples).text) <= 0.35, first["text"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "voice.client",
            "--url",
            services.gateway_url,
            "--text",
            "hello",
            "--speak",
            "--save-speech",
            str(tmp_path / "speech"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    saved = sorted((tmp_path / "speech").glob("turn1-*.wav"))
    assert saved and all(load_file(path).duration_s > 0.3 for path in saved)


@needs_model
def test_hands_free_voice_client_stops_a_spoken_reply_when_the_shopper_speaks_over_it(
    services: Services, speak: Callable[..., Path], tmp_path: Path
) -> None:
    """The voice client with an open microphone and a loudspeaker whose echo comes back at -20 dB:
    the shopper asks, then speaks over the spoken reply. The reply stops soon after their first
    syllable (benchmarks/barge_in.py measures how soon), the new turn is heard from its first word,
    and the next reply's own echo stops nothing."""
    from voice.hands_free import FileMicrophone, HandsFree, ReplyPlayer, WavOutput

    texts_said = ("where is my order", "thank you very much")
    first, second = (voiced(load_file(speak(text, "rms")).samples) for text in texts_said)
    # Mid-way through the reply's long second sentence, however soon the gateway answered (not at a
    # sentence boundary, where nothing is playing to interrupt).
    gap = np.zeros(int(3.6 * SAMPLE_RATE), np.float32)
    samples = np.concatenate([first, gap, second, np.zeros(2 * SAMPLE_RATE, np.float32)])
    onset_s = (len(first) + len(gap)) / SAMPLE_RATE
    microphone = FileMicrophone(samples, echo_gain=0.1)
    output = WavOutput(tmp_path / "played.wav")
    output.listeners.append(microphone.hear)
    player = ReplyPlayer(output)
    with VoiceClient(services.gateway_url, timeout=120, speak=True) as client:
        result = HandsFree(client, player).run(microphone)
    player.close()
    assert not result.errors, result.errors
    heard = [t["text"] for t in result.transcripts]
    assert len(heard) == 2, heard
    assert all(wer(said, text) <= 0.25 for said, text in zip(texts_said, heard, strict=True)), heard
    replies = [r.get("text", "") for r in result.replies]
    assert "order number" in replies[0].lower(), replies
    assert any("welcome" in r.lower() or "happy" in r.lower() for r in replies[1:]), replies
    assert len(result.barge_ins) == 1, result.barge_ins  # the shopper's, not an echo
    assert microphone.started is not None
    stop_s = result.barge_ins[0].stopped_at - (microphone.started + onset_s)
    assert 0.0 < stop_s <= 0.3, stop_s  # promptly; benchmarks/barge_in.py measures how promptly
    interrupted = [p for p in player.log if p.interrupted]
    assert len(interrupted) == 1 and interrupted[0].text in replies[0], (interrupted, replies)
    # The rest of the first reply was dropped: what played next answered the second turn, to its end.
    later = player.log[player.log.index(interrupted[0]) + 1 :]
    assert later and all(p.started_at > result.barge_ins[0].stopped_at + 0.5 for p in later), later
    assert not any(p.interrupted for p in later)
    artifacts = Path(__file__).resolve().parents[1] / "artifacts" / "voice_client"
    artifacts.mkdir(parents=True, exist_ok=True)  # the measured stop, for the closing note
    (artifacts / "barge_in.txt").write_text(f"stopped {stop_s * 1000:.0f} ms after the first syllable\n")


@needs_model
def test_voice_client_listen_file_talks_hands_free_from_the_command_line(
    services: Services, speak: Callable[..., Path], tmp_path: Path
) -> None:
    """``python -m voice.client --listen-file F --speak --play-to OUT``: the recording as an open
    microphone, the gateway ends the turn, the spoken reply is played into OUT."""
    recording = tmp_path / "said.wav"
    samples = open_microphone(load_file(speak("where is my order", "awb")).samples, 2.5)
    import soundfile

    soundfile.write(recording, samples, SAMPLE_RATE)
    played = tmp_path / "played.wav"
    args = ["--url", services.gateway_url, "--listen-file", str(recording), "--speak", "--play-to", str(played)]
    out = subprocess.run([sys.executable, "-m", "voice.client", *args], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    heard = re.search(r"you \(heard\): (.*?)  \[ended by (\w+)\]", out.stdout)
    assert heard, (out.stdout, out.stderr[-3000:])
    assert wer("where is my order", heard.group(1)) <= 0.25 and heard.group(2) in {"model", "fallback"}, out.stdout
    assert "order number" in out.stdout.lower(), out.stdout
    assert load_file(played).duration_s > 1.0, "the spoken reply was played"
    both = subprocess.run(
        [sys.executable, "-m", "voice.client", "--listen", "--text", "hi"], capture_output=True, text=True, timeout=60
    )
    assert both.returncode == 2 and "not both" in both.stderr


@needs_model
def test_only_a_session_id_the_gateway_signed_continues_a_conversation(services: Services) -> None:
    with VoiceClient(services.gateway_url, timeout=120) as first:
        issued = first.session_id
        first.say_text("show me headphones")
    with VoiceClient(services.gateway_url, session_id=issued, timeout=120) as again:
        assert again.session_id == issued
        assert "Headphones" in texts(again.say_text("tell me about the second one"))
    with VoiceClient(services.gateway_url, session_id="alex-morgan", timeout=120) as guessed:
        assert guessed.session_id not in ("alex-morgan", issued)
    forged = issued[:-1] + ("0" if issued[-1] != "0" else "1")
    with VoiceClient(services.gateway_url, session_id=forged, timeout=120) as forging:
        assert forging.session_id not in (forged, issued), "a forged signature starts a new conversation"
