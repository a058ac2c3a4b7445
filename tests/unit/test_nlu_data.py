"""The NLU's training data and its dev and test sets stay apart, and no example carries two intents."""

from __future__ import annotations

from collections import defaultdict

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from tests.conftest import ROOT


def _texts(path: str) -> dict[str, set[str]]:
    intents: dict[str, set[str]] = defaultdict(set)
    for message in load_data(path).intent_examples:
        intents[" ".join(message.get("text").lower().split())].add(message.get("intent"))
    return intents


@pytest.mark.parametrize("name", ["dev.yml", "test.yml"])
def test_no_evaluation_utterance_is_trained_on(name: str) -> None:
    training = _texts(str(ROOT / "data" / "nlu"))
    evaluation = _texts(str(ROOT / "tests" / "nlu" / name))
    assert sorted(set(training) & set(evaluation)) == [], "the score would count what was learnt"


def test_the_test_set_is_apart_from_dev_and_covers_every_intent() -> None:
    dev = _texts(str(ROOT / "tests" / "nlu" / "dev.yml"))
    test = _texts(str(ROOT / "tests" / "nlu" / "test.yml"))
    assert sorted(set(dev) & set(test)) == []
    assert {i for v in test.values() for i in v} == {i for v in dev.values() for i in v}


def test_no_training_example_has_two_intents() -> None:
    training = _texts(str(ROOT / "data" / "nlu"))
    assert {t: i for t, i in training.items() if len(i) > 1} == {}
