"""The NLU's training data and its held-out set stay apart, and no example carries two intents."""

from __future__ import annotations

from collections import defaultdict

from rasa.shared.nlu.training_data.loading import load_data

from tests.conftest import ROOT


def _texts(path: str) -> dict[str, set[str]]:
    intents: dict[str, set[str]] = defaultdict(set)
    for message in load_data(path).intent_examples:
        intents[" ".join(message.get("text").lower().split())].add(message.get("intent"))
    return intents


def test_no_held_out_utterance_is_trained_on_and_no_example_has_two_intents() -> None:
    training = _texts(str(ROOT / "data" / "nlu"))
    held_out = _texts(str(ROOT / "tests" / "nlu" / "heldout.yml"))
    assert sorted(set(training) & set(held_out)) == [], "the held-out score would count what was learnt"
    assert {t: i for t, i in training.items() if len(i) > 1} == {}
