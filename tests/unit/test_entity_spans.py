"""Entity spans are whole words and compounds, and their values are the domain's own (issue 24).

The tags here are what the tagger was seen to do with Whisper's forms: split "light-roast" in two,
tag one half of "double-shot", tag the hyphen itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nlu.entity_forms import EntityForms, form_key
from nlu.spans import TaggedPiece, decode_spans


def tagged(text: str, *tags: str, confidence: float = 0.9) -> list[TaggedPiece]:
    """Pieces of ``text`` as the sub-word tokenizer cuts it at punctuation, one tag per piece."""
    pieces = [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]
    assert len(pieces) == len(tags), [text[a:b] for a, b in pieces]
    return [TaggedPiece(a, b, tag, confidence) for (a, b), tag in zip(pieces, tags, strict=True)]


def entities(text: str, pieces: list[TaggedPiece]) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.label) for s in decode_spans(text, pieces)]


def test_two_halves_of_a_hyphenated_compound_are_one_entity() -> None:
    text = "a light-roast coffee please"
    pieces = tagged(text, "O", "B-roast", "O", "B-roast", "O", "O")
    assert entities(text, pieces) == [("light-roast", "roast")]


def test_one_tagged_half_takes_the_whole_compound() -> None:
    text = "make it a double-shot"
    assert entities(text, tagged(text, "O", "O", "O", "O", "O", "B-shots")) == [("double-shot", "shots")]
    assert entities(text, tagged(text, "O", "O", "O", "B-shots", "O", "O")) == [("double-shot", "shots")]


def test_punctuation_is_never_an_entity() -> None:
    text = "an 8 - ounce cup"
    assert entities(text, tagged(text, "O", "O", "B-size", "O", "O")) == []
    text = "one latte."
    assert entities(text, tagged(text, "O", "B-drink", "I-drink")) == [("latte", "drink")]


def test_a_comma_ends_an_entity_the_tagger_ran_on() -> None:
    text = "a latte, cappuccino"
    assert entities(text, tagged(text, "O", "B-drink", "I-drink", "I-drink")) == [
        ("latte", "drink"),
        ("cappuccino", "drink"),
    ]


def test_a_compound_tagged_with_two_labels_keeps_the_surer_one() -> None:
    text = "an 8-ounce cup"
    pieces = tagged(text, "O", "B-size", "B-size", "B-unit", "O")
    pieces[3] = TaggedPiece(pieces[3].start, pieces[3].end, "B-unit", 0.4)
    assert entities(text, pieces) == [("8-ounce", "size")]


def test_separate_words_stay_separate_entities() -> None:
    text = "red running shoes"
    assert entities(text, tagged(text, "B-color", "B-product_type", "I-product_type")) == [
        ("red", "color"),
        ("running shoes", "product_type"),
    ]


def test_sub_word_pieces_and_apostrophes_stay_inside_one_word() -> None:
    text = "the men's cappuccino"
    pieces = [
        TaggedPiece(4, 7, "B-category", 0.9),  # men
        TaggedPiece(7, 8, "I-category", 0.9),  # '
        TaggedPiece(8, 9, "O", 0.9),  # s
        TaggedPiece(10, 13, "B-drink", 0.9),  # cap
        TaggedPiece(13, 20, "B-drink", 0.9),  # puccino: a new B inside the word goes on
    ]
    assert entities(text, pieces) == [("men's", "category"), ("cappuccino", "drink")]


CAFE = EntityForms.learn(
    annotated=[
        ("drink", "latte", "latte"),
        ("drink", "flat white", "flat white"),
        ("roast", "light roast", "light roast"),
        ("size", "eight ounce", "8 oz"),
        ("size", "twelve ounce", "12 oz"),
        ("shots", "double shot", "double"),
        ("quantity", "two", "2"),
    ],
    synonyms={"eight ounce": "8 oz", "twelve ounce": "12 oz", "double shot": "double"},
    tables={"drink": ["latte", "cappuccino", "iced tea"]},
)


@pytest.mark.parametrize(
    ("label", "heard", "meant"),
    [
        ("roast", "light-roast", "light roast"),
        ("roast", "Light Roast", "light roast"),
        ("size", "8-ounce", "8 oz"),
        ("size", "8 ounce", "8 oz"),
        ("size", "twelve-ounce", "12 oz"),
        ("shots", "double-shot", "double"),
        ("drink", "lattes", "latte"),
        ("drink", "cappuccinos", "cappuccino"),
        ("drink", "flat-white", "flat white"),
        ("drink", "iced-tea", "iced tea"),
    ],
)
def test_a_written_form_gets_the_domains_value(label: str, heard: str, meant: str) -> None:
    assert CAFE.canonical(label, heard) == meant


def test_values_not_on_file_and_computed_ones_stay_as_heard() -> None:
    assert CAFE.canonical("drink", "mocha") == "mocha"
    assert CAFE.canonical("size", "large") == "large"
    assert CAFE.canonical("quantity", "2") == "2"
    assert "quantity" not in CAFE.values, "numbers are computed from their text, never looked up"


def test_a_key_two_values_claim_is_left_as_heard() -> None:
    clash = EntityForms.learn([("x", "tea", "tea"), ("x", "teas", "tea set")], {}, {})
    assert clash.canonical("x", "teas") == "teas"


def test_keys_set_case_hyphens_number_words_and_plurals_aside() -> None:
    assert form_key("Noise-Cancelling") == form_key("noise cancelling")
    assert form_key("eight-ounce") == form_key("8 ounce")
    assert form_key("berries") == form_key("berry")
    assert form_key("glasses") == form_key("glass")
    assert form_key("iced") != form_key("ice"), "a different word is not a written form"


def test_forms_survive_saving_with_the_model(tmp_path: Path) -> None:
    CAFE.save(tmp_path)
    assert EntityForms.load(tmp_path).canonical("size", "8-ounce") == "8 oz"
    assert EntityForms.load(tmp_path / "elsewhere").values == {}, "a model from before forms existed"
