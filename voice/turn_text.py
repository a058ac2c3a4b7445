"""Does the transcript so far read like a whole request? A small classifier taught by the bot's own NLU data.

Smart Turn (voice/end_of_turn.py) hears intonation, and a voice often falls at a comma as it does at
a full stop: "can you show me, ... the blue running shoes" sounds finished after "show me". The
words say otherwise. Every example in the bot's NLU data is a whole request, and most of their
beginnings ("can you show", "I'd like to change the") are not, so the data a shop trains its bot on
also teaches which transcripts are still open. A logistic regression over the last words, the first
words and the length learns that in about a second at start-up; a shop with its own domain (a
café, a pharmacy) gets its own turn-taking without writing anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from voice.domain_words import listed, nlu_blocks

# Rasa's entity annotations: "[red](colour)", "[red]{"entity": "colour"}" -> "red".
ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Whisper writes a number read in pieces as "7-3", "1,0012" or "100 404": one number, however split.
DIGIT_GAP = re.compile(r"(?<=\d)[\s,.\-]+(?=\d)")
FEATURE_SPACE = 2**16


def words(text: str) -> list[str]:
    """Lower-case words. A number is '#' and its count of digits ('#3' for 100, '#5' for 10004), so
    an order number said in pieces reads as unfinished; a code with letters ('sw1') is '#x'."""
    found = WORD.findall(DIGIT_GAP.sub("", text.lower()))
    return [_number(w) if any(c.isdigit() for c in w) else w for w in found]


def _number(word: str) -> str:
    return f"#{min(len(word), 6)}" if word.isdigit() else "#x"


def nlu_examples(path: Path) -> Iterator[str]:
    """The plain text of every intent example in a Rasa NLU file or a folder of them."""
    for block in nlu_blocks(path):
        if "intent" in block:
            for item in listed(block["examples"]):
                yield ANNOTATION.sub(r"\1", item).strip()


def features(tokens: list[str]) -> list[str]:
    """What says whether a request is over: how it ends (last one to three words), how it began
    (a question waits for its object), and how long it is."""
    n = len(tokens)
    found = [f"len={min(n, 9)}"]
    for k in (1, 2, 3):
        if n >= k:
            found.append("end=" + " ".join(tokens[-k:]))
            found.append("start=" + " ".join(tokens[:k]))
    if n >= 2:
        found.append(f"start={tokens[0]}|end={tokens[-1]}")
    return found


def beginnings(tokens: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """Every beginning of a request, the whole included; a number's beginnings too ('10004' heard
    so far as '100'), since people read long numbers in pieces."""
    for k in range(1, len(tokens) + 1):
        last = tokens[k - 1]
        if last[1:].isdigit():
            yield from (tokens[: k - 1] + (f"#{d}",) for d in range(1, int(last[1:])))
        yield tokens[:k]


def training_set(examples: Iterable[str]) -> tuple[list[list[str]], np.ndarray]:
    """Whole examples are finished (1); their beginnings are not (0), unless that beginning is
    itself an example ("show me tents" of "show me tents for four people")."""
    whole = {tuple(words(text)) for text in examples} - {()}
    samples: list[list[str]] = []
    labels: list[int] = []
    for tokens in sorted(whole):
        for beginning in beginnings(tokens):
            samples.append(list(beginning))
            labels.append(int(beginning in whole))
    return samples, np.array(labels)


class TextTurnModel:
    """P(finished | transcript so far), from a bot's NLU examples."""

    def __init__(self, examples: Iterable[str]) -> None:
        from sklearn.feature_extraction import FeatureHasher
        from sklearn.linear_model import LogisticRegression

        samples, labels = training_set(examples)
        if len(set(labels.tolist())) < 2:
            raise ValueError("the NLU data needs requests of more than one word to learn where turns end")
        self.hasher = FeatureHasher(n_features=FEATURE_SPACE, input_type="string", alternate_sign=False)
        self.classifier = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear")
        self.classifier.fit(self.hasher.transform(features(s) for s in samples), labels)
        self.size = len(samples)

    @classmethod
    def from_nlu(cls, path: Path) -> TextTurnModel:
        return cls(nlu_examples(path))

    def complete(self, text: str) -> float | None:
        """The probability that ``text`` is a whole request; None when it has no words."""
        tokens = words(text)
        if not tokens:
            return None
        return float(self.classifier.predict_proba(self.hasher.transform([features(tokens)]))[0, 1])
