"""Entity spans from the tagger's BIO tags, whole words and whole compounds only.

Whisper writes compounds with a hyphen ("light-roast", "8-ounce", "noise-cancelling") and the
sub-word tokenizer splits them at it, so the tagger sees "light", "-", "roast" and may tag the two
halves as two entities, tag only one half, or tag the hyphen itself. Here a span always covers
whole words, a word being letters and digits joined by hyphens or apostrophes ("men's"), pieces of
one compound become one entity, and punctuation is never an entity on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OUTSIDE = "O"
JOINERS = "-'’‐"  # join two words into one compound when nothing but letters or digits is around them


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str
    confidence: float = 1.0


@dataclass(frozen=True)
class TaggedPiece:
    """One sub-word piece of the text (character offsets) and its best tag."""

    start: int
    end: int
    tag: str  # "O", "B-label" or "I-label"
    confidence: float


def _in_word(text: str, i: int) -> bool:
    """Whether character ``i`` belongs to a word: a letter or digit, or a joiner between two."""
    if not 0 <= i < len(text):
        return False
    if text[i].isalnum():
        return True
    return text[i] in JOINERS and 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def word_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``start:end`` widened to the whole words (and compounds) it touches, trimmed of punctuation."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    if start == end:
        return start, end
    while start > 0 and _in_word(text, start - 1):
        start -= 1
    while end < len(text) and _in_word(text, end):
        end += 1
    return start, end


def decode_spans(text: str, pieces: Iterable[TaggedPiece]) -> list[Span]:
    """Entities of ``text`` from its tagged pieces."""
    raw: list[tuple[int, int, str, list[float]]] = []
    current: list | None = None  # [start, end, label, confidences]
    for piece in pieces:
        if piece.end <= piece.start:
            continue
        if not any(c.isalnum() for c in text[piece.start : piece.end]):
            # Punctuation is never an entity. A hyphen or apostrophe inside a compound does not
            # split one either; a comma or a full stop ends it ("a latte, a cappuccino").
            if not all(_in_word(text, i) for i in range(piece.start, piece.end)):
                current = None
            continue
        if piece.tag == OUTSIDE:
            current = None
            continue
        prefix, label = piece.tag.split("-", 1)
        continues_word = current is not None and _joined(text, current[1], piece.start)
        if current is not None and label == current[2] and (prefix == "I" or continues_word):
            current[1] = piece.end
            current[3].append(piece.confidence)
        else:
            current = [piece.start, piece.end, label, [piece.confidence]]
            raw.append(current)  # type: ignore[arg-type]
    return _merge_compounds(text, raw)


def _joined(text: str, end: int, start: int) -> bool:
    """Whether a piece starting at ``start`` continues the word that ended at ``end``."""
    return all(_in_word(text, i) for i in range(end - 1, start + 1)) if start >= end else False


def _merge_compounds(text: str, raw: list[tuple[int, int, str, list[float]]]) -> list[Span]:
    """Each span widened to whole words; spans then sharing a compound become one, whose label is
    the one its pieces were most confident about in total."""
    spans: list[Span] = []
    votes: dict[str, float] = {}
    confidences: list[float] = []
    for start, end, label, scores in raw:
        start, end = word_bounds(text, start, end)
        if start == end:
            continue
        if spans and start < spans[-1].end:  # overlaps the span before: one compound
            last = spans.pop()
            start, end = min(start, last.start), max(end, last.end)
        else:
            votes, confidences = {}, []
        votes[label] = votes.get(label, 0.0) + sum(scores)
        confidences += scores
        best = max(votes, key=lambda name: votes[name])
        spans.append(Span(start, end, best, sum(confidences) / len(confidences)))
    return spans
