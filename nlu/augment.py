"""Teach the NLU the shop's own words: training examples re-told with values from the lookup tables.

The transformer learns entities only from annotated examples, and those name the demo shop's brands
and types. A shop that imports its catalogue gets its lookup tables rewritten from the database
(``nlu.lookups``); here each training example that mentions a looked-up entity (a brand, a product
type, a colour, a material, a category) is copied a few times with that entity replaced by other
values from the shop's table. "show me [Sonique](brand) headphones" also trains as "show me
[Mauve & Co](brand) headphones", so the model tags and understands the shop's own names, as typed or
as a recogniser writes them (lower case). Only training examples are copied: validation stays as
written.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from language.words import plural
from nlu.joint_model import Example, Span


def _surface(value: str, original: str, label: str, rng: random.Random) -> str:
    """``value`` written the way the replaced text was: plural where it was plural, lower case half the time."""
    if label == "product_type" and original.lower() != original.lower().rstrip("s") and not value.endswith("s"):
        value = plural(value)
    return value.lower() if rng.random() < 0.5 else value


def retold(example: Example, tables: Mapping[str, Sequence[str]], rng: random.Random) -> Example | None:
    """A copy of ``example`` with every looked-up entity replaced by another value of its table."""
    spans = sorted(example.spans, key=lambda s: s.start)
    if not any(len(tables.get(s.label, ())) > 1 for s in spans):
        return None
    text, shift, new_spans, cursor = "", 0, [], 0
    for span in spans:
        if span.start < cursor:
            return None  # overlapping annotations: leave the example as written
        original = example.text[span.start : span.end]
        choices = [v for v in tables.get(span.label, ()) if v.lower() != original.lower()]
        replacement = _surface(rng.choice(choices), original, span.label, rng) if choices else original
        text += example.text[cursor : span.start] + replacement
        start = span.start + shift
        new_spans.append(Span(start, start + len(replacement), span.label, span.confidence))
        shift += len(replacement) - len(original)
        cursor = span.end
    text += example.text[cursor:]
    return Example(text, example.intent, tuple(new_spans))


def with_lookup_values(
    examples: Sequence[Example], tables: Mapping[str, Sequence[str]], copies: int, seed: int
) -> list[Example]:
    """``examples`` plus ``copies`` re-told copies of each one that mentions a looked-up entity."""
    rng = random.Random(seed)
    extra = []
    for example in examples:
        for _ in range(copies):
            copy = retold(example, tables, rng)
            if copy is not None and copy.text != example.text:
                extra.append(copy)
    return [*examples, *extra]
