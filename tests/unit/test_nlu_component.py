"""The transformer NLU: fine-tune on a tiny dataset, persist, load, predict, survive bad input."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from language.encoder import EncoderNotFound, default_encoder_dir, resolve_encoder
from nlu.entity_values import normalise_value, pattern_spans, price_bound
from nlu.joint_model import Example, JointModel, Span, TrainingConfig, expected_calibration_error

if TYPE_CHECKING:
    from rasa.shared.nlu.training_data.message import Message


def _spanned(template: str, label: str, value: str) -> Example:
    text = template.format(value)
    start = text.index(value)
    return Example(text, "search", (Span(start, start + len(value), label),))


TINY = (
    [
        _spanned(t, "color", c)
        for t in ("show me {} shoes", "i want a {} shirt", "anything in {}", "{} socks please")
        for c in ("red", "blue", "green")
    ]
    + [Example(t, "greet") for t in ("hello", "hi there", "good morning", "hey", "hello friend", "hiya")]
    + [Example(t, "goodbye") for t in ("bye", "see you", "goodbye", "bye bye", "later", "farewell then")]
)
FAST = TrainingConfig(
    epochs=12, learning_rate=3e-4, head_learning_rate=5e-3, batch_size=8, validation_fraction=0, patience=0, seed=7
)


@pytest.fixture(scope="module")
def tiny_model() -> JointModel:
    model = JointModel(resolve_encoder(""), FAST)
    model.fit(TINY, progress=False)
    return model


def test_default_encoder_is_the_checked_wheel() -> None:
    assert (default_encoder_dir() / "model.safetensors").exists()
    with pytest.raises(EncoderNotFound, match="allow_network"):
        resolve_encoder("sentence-transformers/some-hub-model")


@pytest.mark.slow  # fine-tunes a small model
def test_learns_intents_and_entity_spans(tiny_model: JointModel) -> None:
    predictions = tiny_model.predict(["show me green shoes", "hello there", "bye for now"])
    assert [p.intent for p in predictions] == ["search", "greet", "goodbye"]
    spans = predictions[0].spans
    assert [("show me green shoes"[s.start : s.end], s.label) for s in spans] == [("green", "color")]


@pytest.mark.slow  # fine-tunes a small model
def test_ranking_is_a_full_probability_distribution(tiny_model: JointModel) -> None:
    (prediction,) = tiny_model.predict(["i want a blue shirt"])
    assert {name for name, _ in prediction.ranking} == {"search", "greet", "goodbye"}
    assert sum(c for _, c in prediction.ranking) == pytest.approx(1.0, abs=1e-5)
    assert [c for _, c in prediction.ranking] == sorted((c for _, c in prediction.ranking), reverse=True)


@pytest.mark.slow  # fine-tunes a small model
def test_save_and_load_give_the_same_predictions(tiny_model: JointModel, tmp_path: Path) -> None:
    tiny_model.save(tmp_path / "m")
    loaded = JointModel.load(tmp_path / "m")
    texts = ["anything in red", "good morning"]
    before, after = tiny_model.predict(texts), loaded.predict(texts)
    for a, b in zip(before, after, strict=True):
        assert a.intent == b.intent
        assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
        assert a.spans == b.spans


@pytest.mark.slow  # fine-tunes a small model
def test_quantized_model_keeps_its_answers(tiny_model: JointModel, tmp_path: Path) -> None:
    tiny_model.save(tmp_path / "m")
    quantized = JointModel.load(tmp_path / "m", quantize=True)
    assert any("quantized" in type(m).__module__ for m in quantized.network.encoder.modules())
    texts = [e.text for e in TINY]
    float_intents = [p.intent for p in tiny_model.predict(texts)]
    assert [p.intent for p in quantized.predict(texts)] == float_intents
    spans = [(s.start, s.end, s.label) for s in quantized.predict(["i want a blue shirt"])[0].spans]
    assert spans == [(9, 13, "color")]


@pytest.mark.slow  # fine-tunes a small model
def test_training_is_deterministic_with_a_seed() -> None:
    subset = TINY[::2]
    config = TrainingConfig(**{**FAST.__dict__, "epochs": 3})
    first, second = JointModel(resolve_encoder(""), config), JointModel(resolve_encoder(""), config)
    first.fit(subset, progress=False)
    second.fit(subset, progress=False)
    assert first.predict(["hi"])[0].ranking == second.predict(["hi"])[0].ranking


def test_imprinted_head_classifies_before_any_fine_tuning() -> None:
    # Zero epochs: the head rows are the intents' mean sentence vectors and nothing else.
    model = JointModel(resolve_encoder(""), TrainingConfig(**{**FAST.__dict__, "epochs": 0, "imprint_head": True}))
    model.fit(TINY, progress=False)
    predicted = [p.intent for p in model.predict(["good evening", "see you tomorrow", "a green coat please"])]
    assert predicted == ["greet", "goodbye", "search"]


@pytest.mark.parametrize("text", ["", "   ", "🛒🛒 😀", "x" * 10_000, "RED SHOES " * 2_000, "<b>red</b> shoes"])
@pytest.mark.slow  # fine-tunes a small model
def test_bad_input_still_gives_a_prediction(tiny_model: JointModel, text: str) -> None:
    (prediction,) = tiny_model.predict([text])
    assert prediction.intent in {"search", "greet", "goodbye"}
    for span in prediction.spans:
        assert 0 <= span.start < span.end <= len(text)


def test_expected_calibration_error() -> None:
    import numpy as np

    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([True, True])) == pytest.approx(0.1)
    assert expected_calibration_error(np.array([0.6, 0.6]), np.array([True, False])) == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("label", "text", "value"),
    [
        ("price_max", "fifty dollars", "50"),
        ("price_max", "$49.99", "49.99"),
        ("price_min", "a hundred", "100"),
        ("price_max", "one hundred and fifty", "150"),
        ("order_id", "one zero zero four two", "10042"),
        ("order_id", "one two three four", "1234"),
        ("order_id", "1 0 0 4 2", "10042"),
        ("quantity", "three", "3"),
        ("email", "alex dot morgan at example dot com", "alex.morgan@example.com"),
        ("color", "Navy", "Navy"),
    ],
)
def test_spoken_values_are_normalised(label: str, text: str, value: str) -> None:
    assert normalise_value(label, text) == value


def test_order_ids_and_emails_are_found_by_their_shape() -> None:
    text = "order one zero zero zero two, or 10003, mail sam.patel@example.com"
    found = {(text[s:e], label) for s, e, label in pattern_spans(text)}
    assert found == {("one zero zero zero two", "order_id"), ("10003", "order_id"), ("sam.patel@example.com", "email")}


@pytest.mark.parametrize(
    ("before", "tagged", "bound"),
    [
        ("running shoes under ", "price_min", "price_max"),
        ("for less than $", "price_min", "price_max"),
        ("anything over ", "price_max", "price_min"),
        ("between ", "price_max", "price_min"),
        ("between 10 and ", "price_max", "price_max"),
        ("shoes for ", "price_min", "price_min"),
        ("shoes under ", "color", "color"),
    ],
)
def test_price_bound_follows_the_word_before_the_number(before: str, tagged: str, bound: str) -> None:
    assert price_bound(tagged, before) == bound


def _message(text: str, intent: str | None = None, entities: list | None = None) -> Message:
    from rasa.shared.nlu.training_data.message import Message

    data: dict[str, Any] = {"text": text}
    if intent:
        data["intent"] = intent
    if entities:
        data["entities"] = entities
    return Message(data=data)


@pytest.mark.slow  # fine-tunes a small model
def test_rasa_component_trains_persists_and_loads(tmp_path: Path) -> None:
    # Rasa (and TensorFlow under it) is imported here, not at the top: it takes ~10 s, which the
    # fast lane (make check, -m "not slow") should not pay for a test it does not run.
    import torch
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from nlu.transformer_classifier import TransformerIntentClassifier

    (tmp_path / "storage").mkdir()
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("transformer_nlu")
    context = ExecutionContext(GraphSchema({}), node_name="transformer_nlu")
    config = {**TransformerIntentClassifier.get_default_config(), **FAST.__dict__}
    messages = [
        _message(
            e.text,
            e.intent,
            [{"entity": s.label, "start": s.start, "end": s.end, "value": e.text[s.start : s.end]} for s in e.spans],
        )
        for e in TINY
    ]
    component = TransformerIntentClassifier.create(config, storage, resource, context)
    component.train(TrainingData(training_examples=messages))

    loaded = TransformerIntentClassifier.load(config, storage, resource, context)
    # Trained on `threads` (2), served on `serve_threads` (1).
    assert config["threads"] == 2 and config["serve_threads"] == 1 and torch.get_num_threads() == 1
    parsed = loaded.process(
        [
            _message("show me blue shoes under fifty dollars"),
            _message(""),
            _message("track order one zero zero zero two"),
        ]
    )
    first = parsed[0]
    assert first.get("intent")["name"] == "search"
    assert len(first.get("intent_ranking")) == 3
    blue = [e for e in first.get("entities") if e["entity"] == "color"]
    assert blue and blue[0]["value"] == "blue" and blue[0]["extractor"] == "TransformerIntentClassifier"
    # Nothing said: no intent, so the FallbackClassifier asks to rephrase.
    assert parsed[1].get("intent") == {"name": None, "confidence": 0.0}
    order = [e for e in parsed[2].get("entities") if e["entity"] == "order_id"]
    assert order and order[0]["value"] == "10002"
    # The training data's values travel in the archive: a form written another way gets its value.
    assert loaded.forms.canonical("color", "Greens") == "green"
    assert loaded._entities("two greens", [Span(4, 10, "color")])[0]["value"] == "green"
