"""Speech recognition through the real Whisper model: TTS speech, windows, biasing, stopping, the CLI contract."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from voice.asr import Recognizer
from voice.audio import SAMPLE_RATE, load_file
from voice.vocabulary import SHOP_PROMPT, ShopCorrector
from voice.wer import wer

ROOT = Path(__file__).resolve().parents[2]


# -- conversion ---------------------------------------------------------------------------------
def test_recognises_shopping_requests_spoken_by_tts(recognizer: Recognizer, speak: Callable[..., Path]) -> None:
    sentences = [
        "show me running shoes under one hundred dollars",
        "where is my order",
        "I want to return my headphones",
        "add the second one to my cart",
    ]
    errors = [wer(s, recognizer.transcribe_file(speak(s)).text) for s in sentences]
    assert sum(errors) / len(errors) <= 0.2, errors


def test_trailing_silence_is_trimmed_and_silence_gives_no_text(
    recognizer: Recognizer, speak: Callable[..., Path]
) -> None:
    speech = load_file(speak("what's in my cart")).samples
    padded = np.concatenate([speech, np.zeros(SAMPLE_RATE * 6, np.float32)])
    transcript = recognizer.transcribe(padded)
    assert transcript.duration_s > transcript.speech_s + 5
    assert wer("what's in my cart", transcript.text) <= 0.25
    assert 0 < transcript.confidence <= 1
    empty = recognizer.transcribe(np.zeros(SAMPLE_RATE * 2, np.float32))
    assert empty.text == "" and empty.speech_s == 0


def test_speech_longer_than_the_short_window_uses_the_full_window(
    recognizer: Recognizer, speak: Callable[..., Path]
) -> None:
    first, second = "show me the blue rain jackets", "and add the cheapest one to my cart"
    gap = np.zeros(SAMPLE_RATE * 12, np.float32)  # inner silence is kept, so speech spans > 14 s
    samples = np.concatenate([load_file(speak(first)).samples, gap, load_file(speak(second)).samples])
    assert recognizer._window_for(len(samples) / SAMPLE_RATE) == 30.0
    transcript = recognizer.transcribe(samples)
    assert transcript.speech_s > recognizer.window_s
    # Both ends are heard: the short window would have cut the second sentence off.
    assert wer(f"{first} {second}", transcript.text) <= 0.25, transcript.text
    short = recognizer.transcribe(load_file(speak(first)).samples)
    assert recognizer._window_for(short.speech_s) == recognizer.window_s < 30
    assert wer(first, short.text) <= 0.2, short.text


def test_shop_prompt_and_correction_are_applied(demo_db: Path, speak: Callable[..., Path]) -> None:
    biased = Recognizer("tiny.en", threads=2, prompt=SHOP_PROMPT, corrector=ShopCorrector(demo_db), bias=False)
    transcript = biased.transcribe_file(speak("find a Chefwright frying pan"))
    # Whisper hears a common phrase ("chef right"); the shop's brand list puts the name back.
    assert "chefwright" in transcript.text.lower(), transcript
    assert "chefwright" not in transcript.raw_text.lower() and transcript.corrections


def test_transcribe_cli_prints_one_json_object_per_file(
    speak: Callable[..., Path], tmp_path: Path, demo_db: Path
) -> None:
    good = speak("do you have a blue rain jacket")
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt broken")
    # The contract, on the default model named (base hears this one as "a Blurrain jacket").
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "voice",
            "transcribe",
            "--json",
            "--db",
            str(demo_db),
            "--model",
            "tiny.en",
            str(good),
            str(bad),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [r["file"] for r in records] == [str(good), str(bad)]
    assert {"text", "duration_s", "decode_s"} <= set(records[0])
    assert wer("do you have a blue rain jacket", records[0]["text"]) <= 0.2
    assert "error" in records[1] and "text" not in records[1]
    assert out.returncode == 1  # one file failed


# -- catalogue biasing during decoding --------------------------------------------------------------
@pytest.fixture()
def shop_recognizer(demo_db: Path) -> Recognizer:
    return Recognizer("tiny.en", threads=2, corrector=ShopCorrector(demo_db))  # biased by default


def test_biased_proposal_is_kept_only_when_plain_whisper_agrees(
    shop_recognizer: Recognizer, speak: Callable[..., Path]
) -> None:
    sentence = "do you have Brightwave earbuds in black"
    audio = load_file(speak(sentence)).samples
    recognizer = shop_recognizer
    assert recognizer.bias is not None
    heard = recognizer.transcribe(audio)
    # Plain Whisper writes "brightwave your buds"; the bonus proposes the product type "earbuds",
    # which plain Whisper finds nearly as likely, so it is kept.
    assert "earbuds" in heard.raw_text.lower(), heard
    assert heard.bias_cost is not None and heard.bias_cost <= recognizer.bias.max_cost
    assert wer(sentence, heard.text) <= 0.15, heard.text
    recognizer.bias.max_cost = -math.inf  # no proposal is good enough: the plain decode stands
    plain = recognizer.transcribe(audio)
    assert "earbuds" not in plain.raw_text.lower(), plain
    assert plain.biased_text == heard.raw_text and plain.bias_cost == heard.bias_cost


def test_biased_decode_resumes_where_the_bonus_first_changes_a_choice(
    shop_recognizer: Recognizer, speak: Callable[..., Path]
) -> None:
    import torch

    from voice.audio import trim_silence

    recognizer = shop_recognizer
    assert recognizer.bias is not None
    audio = trim_silence(load_file(speak("do you have Brightwave earbuds in black")).samples)
    heard = recognizer.transcribe(audio)
    flip = recognizer.bias.flip_at
    assert flip is not None and flip > 0, "'do you have' is decoded once, shared by both passes"
    # The biased decode run from the first token gives the very transcript the resumed one kept.
    with torch.inference_mode():
        encoded = recognizer._encode(torch.from_numpy(audio).unsqueeze(0), recognizer._window_for(heard.speech_s))
        recognizer.bias.active = True
        try:
            _, _, from_start = recognizer._decode(encoded)
        finally:
            recognizer.bias.active = False
    assert from_start == heard.raw_text
    # Without a bonus no step changes, so there is no second decode and no proposal.
    recognizer.bias.start_bonus = recognizer.bias.continue_bonus = 0.0
    unbiased = recognizer.transcribe(audio)
    assert recognizer.bias.flip_at is None and unbiased.biased_text == "" and unbiased.bias_cost is None


def test_a_window_fitted_to_the_speech_is_only_as_long_as_asked(recognizer: Recognizer) -> None:
    assert recognizer.margin_s is None and recognizer._window_for(2.2) == recognizer.window_s  # the product's
    recognizer.margin_s = 3.0  # as benchmarks/asr_window.py sweeps it
    try:
        assert recognizer._window_for(2.2) == 6.0  # whole seconds, so few position tables are made
        assert recognizer._window_for(12.5) == recognizer.window_s == 15.0
        assert recognizer._window_for(14.5) == 30.0
    finally:
        recognizer.margin_s = None


def test_a_transcription_ends_early_when_its_stop_event_is_set(
    recognizer: Recognizer, speak: Callable[..., Path]
) -> None:
    import threading
    import time

    from voice.asr import Interrupted

    sentence = "show me the blue rain jackets and add the cheapest one to my cart"
    samples = load_file(speak(sentence)).samples
    stop, outcome = threading.Event(), {}

    def preview() -> None:  # long enough (about 16 s of speech) to be still running when stopped
        try:
            outcome["transcript"] = recognizer.transcribe(np.concatenate([samples] * 4), biased=False, stop=stop)
        except Interrupted as stopped:
            outcome["interrupted"] = stopped

    worker = threading.Thread(target=preview)
    worker.start()
    while recognizer._stop is not stop and worker.is_alive():
        time.sleep(0.005)
    stop.set()  # what the gateway does to a preview when an utterance's final audio arrives
    worker.join(120)
    assert "interrupted" in outcome, outcome
    # Only the transcription given that event stops: the next ones are heard in full.
    assert wer(sentence, recognizer.transcribe(samples).text) <= 0.2
    assert wer(sentence, recognizer.transcribe(samples, stop=threading.Event()).text) <= 0.2


# -- the encoder in ONNX Runtime --------------------------------------------------------------------
def test_the_onnx_encoder_writes_what_torchs_encoder_writes(
    recognizer: Recognizer, speak: Callable[..., Path], tmp_path: Path
) -> None:
    import torch

    from voice.onnx_encoder import encoder_file, load_or_export
    from voice.settings import VoiceSettings

    onnx = recognizer.onnx_encoder  # on by default, exported into the prepared model folder
    assert onnx is not None and onnx.frames == int(recognizer.window_s * 100)
    samples = torch.from_numpy(load_file(speak("is the green jacket waterproof")).samples).unsqueeze(0)
    with torch.inference_mode():
        mel = recognizer._mel(samples, recognizer.window_s)
        recognizer._use_positions(onnx.frames // 2)
        expected = recognizer.whisper.forward_encoder(mel)
        fresh = load_or_export(tmp_path, recognizer.whisper.model.encoder, mel, threads=2)  # exported here
        for encoder in (onnx, fresh):
            got = encoder(mel)
            assert got.shape == expected.shape
            assert float((got - expected).abs().max()) < 1e-2 * float(expected.abs().max())
    assert encoder_file(tmp_path, onnx.frames).exists() and not list(tmp_path.glob("*.partial"))

    torch_only = dataclasses.replace(VoiceSettings.from_env(), onnx_encoder=False)
    on_torch = Recognizer("tiny.en", threads=2, settings=torch_only)
    assert on_torch.onnx_encoder is None
    for sentence in ("show me the cheapest kettle", "I want to cancel order one zero zero four"):
        audio = load_file(speak(sentence)).samples
        assert recognizer.transcribe(audio).raw_text == on_torch.transcribe(audio).raw_text
