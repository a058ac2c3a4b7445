"""Word error rate with a normaliser, so "$100" and "one hundred dollars" count as the same words.

Both reference and hypothesis are lower-cased, stripped of punctuation, and numbers are
written as digits (language.numbers, the same reading the bot applies to what it hears).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from language.numbers import normalise_numbers

_TITLES = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}
# Contractions count the same written either way ("I'm" = "I am").
_CONTRACTIONS = [
    (r"\b(i)'m\b", r"\1 am"),
    (r"\b(\w+)'re\b", r"\1 are"),
    (r"\b(\w+)'ve\b", r"\1 have"),
    (r"\b(\w+)'ll\b", r"\1 will"),
    (r"\b(\w+)'d\b", r"\1 would"),
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"\b(\w+)n't\b", r"\1 not"),
    (r"\b(what|it|that|there)'s\b", r"\1 is"),
]


def normalise(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"\$\s?(\d[\d,]*(?:\.\d+)?)", r"\1 dollars", text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"\b(mr|mrs|dr|st)\.", lambda m: _TITLES[m.group(1)], text)
    text = re.sub(r"[-‐–—]", " ", text)
    text = re.sub(r"(?<=\w)['’](?=\w)", "", text)  # "I'm" = "im": the same on both sides
    text = re.sub(r"[^\w\s]", " ", text)
    text = normalise_numbers(text)
    # A run of single digits said one by one is one number ("5 5" = "five five" = "55").
    text = re.sub(r"\b\d(?:\s+\d)+\b", lambda m: m.group(0).replace(" ", ""), text)
    return text.split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


@dataclass
class ErrorCount:
    errors: int = 0
    words: int = 0
    utterances: int = 0

    def add(self, reference: str, hypothesis: str) -> int:
        ref, hyp = normalise(reference), normalise(hypothesis)
        errors = edit_distance(ref, hyp)
        self.errors += errors
        self.words += len(ref)
        self.utterances += 1
        return errors

    @property
    def wer(self) -> float:
        return self.errors / self.words if self.words else 0.0


def wer(reference: str, hypothesis: str) -> float:
    count = ErrorCount()
    count.add(reference, hypothesis)
    return count.wer
