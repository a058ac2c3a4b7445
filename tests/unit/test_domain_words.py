"""The recogniser knows the bot's words, not only the catalogue's (issue 24): a café's entity values
come from its NLU data, and misheard ones are pulled back to them."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice.domain_words import entity_words
from voice.vocabulary import DomainCorrector

CAFE_NLU = """
version: "3.1"
nlu:
- intent: order_drink
  examples: |
    - a [twelve ounce]{"entity": "size", "value": "12 oz"} [cappuccino](drink)
    - [two](quantity) [lattes](drink:latte) with [oat milk](milk)
    - a [macchiato](drink) please
- lookup: food
  examples: |
    - croissant
    - almond croissant
- synonym: double
  examples: |
    - double shot
"""


@pytest.fixture
def cafe(tmp_path: Path) -> Path:
    path = tmp_path / "nlu.yml"
    path.write_text(CAFE_NLU, encoding="utf-8")
    return path


def test_entity_words_are_annotations_values_lookups_and_synonyms_not_numbers(cafe: Path) -> None:
    words = entity_words(cafe)
    for word in ("cappuccino", "lattes", "latte", "oat milk", "macchiato", "croissant", "almond croissant"):
        assert word in words
    assert "double" in words and "double shot" in words and "twelve ounce" in words
    assert "two" not in words, "numbers are read from their text, not listened for"
    assert "please" not in words and "a" not in words


def test_a_misheard_domain_word_is_pulled_back_and_english_words_are_left_alone(cafe: Path) -> None:
    corrector = DomainCorrector(entity_words(cafe))
    assert corrector.correct("I'd like a double shot capucino")[0] == "I'd like a double shot cappuccino"
    assert corrector.correct("a large Machia Toa please")[0] == "a large macchiato please"
    assert corrector.correct("can I have a croissant with my coffee")[0] == "can I have a croissant with my coffee"
    assert corrector.correct("order 1 0 0 4 2")[0] == "order 10042"
    assert "cappuccino" in corrector.terms, "decoding is biased towards the domain's words"
