"""Training examples also written as a recogniser writes them (issue 24): digits, hyphenated
entities, dropped articles, a capital and a full stop; the entity spans follow the new text."""

from __future__ import annotations

import random

from nlu.asr_forms import as_transcribed, digits, with_asr_forms
from nlu.joint_model import Example, Span


def annotated(text: str, *entities: tuple[str, str]) -> Example:
    spans = tuple(Span(text.index(value), text.index(value) + len(value), label) for value, label in entities)
    return Example(text, "order_drink", spans)


ORDER = annotated(
    "can I get a twelve ounce light roast with oat milk",
    ("twelve ounce", "size"),
    ("light roast", "roast"),
    ("oat milk", "milk"),
)


def test_number_words_become_digits_and_the_rest_is_kept() -> None:
    assert digits("a twelve ounce latte, two of them") == "a 12 ounce latte, 2 of them"
    assert digits("order one zero zero four two") == "order 10042"
    assert digits("someone wants a scone") == "someone wants a scone", "only whole number words"


def test_copies_keep_every_entity_on_its_words() -> None:
    rng = random.Random(3)
    copies = [as_transcribed(ORDER, rng) for _ in range(20)]
    assert all(c is not None for c in copies)
    seen_hyphen = seen_dropped = False
    for copy in copies:
        assert copy is not None
        values = [copy.text[s.start : s.end] for s in copy.spans]
        assert [s.label for s in copy.spans] == ["size", "roast", "milk"]
        assert values[0] in ("12 ounce", "12-ounce")
        assert values[1] in ("light roast", "light-roast") and values[2] in ("oat milk", "oat-milk")
        assert copy.text[0] == "C" and copy.text.endswith("?"), "a question, as Whisper writes it"
        seen_hyphen |= "-" in copy.text
        seen_dropped |= " a " not in copy.text
    assert seen_hyphen and seen_dropped, "some copies hyphenate an entity, some drop the article"


def test_the_switch_adds_copies_only_when_on_and_never_duplicates() -> None:
    plain = Example("hello", "greet")
    assert with_asr_forms([ORDER, plain], 0, seed=1) == [ORDER, plain]
    grown = with_asr_forms([ORDER, plain], 2, seed=1)
    assert grown[:2] == [ORDER, plain]
    assert len({e.text for e in grown}) == len(grown)
    assert any(e.text == "Hello." for e in grown), "even an example without entities is written as a transcript"
