"""Training examples written the way a speech recogniser writes them.

A shop owner's phrase list says "a twelve ounce light roast please"; Whisper writes "A 12-ounce
light-roast, please." or "12 ounce light roast." The tagger learns entity spans only from what it
is shown, so each training example is also shown as a transcript: number words as digits, an entity
of several words hyphenated, articles dropped, a capital letter and a full stop or a question
mark. Generated from the examples themselves (any domain), with their spans moved along.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from language.numbers import NUMBER_WORDS, words_to_number
from nlu.joint_model import Example, Span

_NUMBER = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_NUMBER_RUN = re.compile(rf"\b(?:{_NUMBER})(?:[ -](?:and[ -])?(?:{_NUMBER}))*\b", re.IGNORECASE)
HYPHENATE = 0.5  # share of multi-word entities written as one hyphenated compound
DROP_ARTICLE = 0.3  # share of articles left out ("can I get latte")
_ARTICLE = re.compile(r"\b(a|an|the) ", re.IGNORECASE)


def digits(text: str) -> str:
    """Number words as digits, the rest as it was: "a twelve ounce latte" -> "a 12 ounce latte"."""
    return _NUMBER_RUN.sub(lambda m: words_to_number(m.group(0).lower()) or m.group(0), text)


def _entity(text: str, rng: random.Random) -> str:
    written = digits(text)
    if " " in written and rng.random() < HYPHENATE:
        written = written.replace(" ", "-")
    return written


def _between(text: str, rng: random.Random) -> str:
    written = digits(text)
    return _ARTICLE.sub(lambda m: "" if rng.random() < DROP_ARTICLE else m.group(0), written)


def as_transcribed(example: Example, rng: random.Random) -> Example | None:
    """``example`` as a recogniser might write it; None when it would read the same."""
    spans = sorted(example.spans, key=lambda s: s.start)
    text, new_spans, cursor = "", [], 0
    for span in spans:
        if span.start < cursor:
            return None  # overlapping annotations: leave the example as written
        text += _between(example.text[cursor : span.start], rng)
        written = _entity(example.text[span.start : span.end], rng)
        new_spans.append(Span(len(text), len(text) + len(written), span.label, span.confidence))
        text += written
        cursor = span.end
    text += _between(example.text[cursor:], rng)
    text = text.rstrip()
    if not text:
        return None
    text = text[0].upper() + text[1:]
    if text[-1].isalnum():
        text += "?" if re.match(r"(can|could|do|does|is|are|what|how|where|which|will|may)\b", text, re.I) else "."
    if text == example.text:
        return None
    return Example(text, example.intent, tuple(new_spans))


def with_asr_forms(examples: Sequence[Example], copies: int, seed: int) -> list[Example]:
    """``examples`` plus up to ``copies`` transcript-like copies of each."""
    rng = random.Random(seed)
    extra = []
    for example in examples:
        seen = {example.text}
        for _ in range(copies):
            copy = as_transcribed(example, rng)
            if copy is not None and copy.text not in seen:
                seen.add(copy.text)
                extra.append(copy)
    return [*examples, *extra]
