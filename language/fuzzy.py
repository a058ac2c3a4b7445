"""Spelling and hearing mistakes in product queries, corrected against the catalogue's own words.

Shoppers type "addidas" and speech recognisers write "nikey" or "blu tooth speaker". Only a word
the catalogue has never seen is corrected, so ordinary queries pass through untouched. A word (or
two words heard apart, "blu tooth") is matched to the catalogue vocabulary by edit similarity
(rapidfuzz) or by sounding the same (a phonetic key), and the closest known term wins.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from language.words import plural

WORD = re.compile(r"[a-z0-9][a-z0-9'&-]*")
# Edit similarity (0-100) needed on its own, and the lower bar when the two also sound alike.
SPELLING_SCORE = 84.0
SOUNDS_ALIKE_SCORE = 60.0
PAIR_OF_WORDS_SCORE = 90.0
MIN_WORD = 3
# Words that are never half of a product term: "from St. Will" must not become "frost will".
FUNCTION_WORDS = frozenset("a an the and or of for from to in on at by with my me your our it is i".split())

_PHONETIC_RULES = [
    (r"ph", "f"),
    (r"ck", "k"),
    (r"q", "k"),
    (r"x", "ks"),
    (r"z", "s"),
    (r"dg", "j"),
    (r"c(?=[eiy])", "s"),
    (r"c", "k"),
    (r"gh(?![aeiou])", ""),
    (r"gh", "g"),
    (r"kn", "n"),
    (r"wr", "r"),
    (r"sch", "sk"),
    (r"th", "0"),
    (r"sh", "x"),
    (r"v", "f"),
]


def phonetic_key(word: str) -> str:
    """A rough key for how an English word sounds: "nikey" and "nike" share "NK".

    Consonant spellings are folded (ph->f, c->k/s, z->s...), vowels after the first letter and
    h/w/y are dropped, repeated letters collapse.
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return ""
    for pattern, replacement in _PHONETIC_RULES:
        w = re.sub(pattern, replacement, w)
    head, tail = w[0], re.sub(r"[aeiouyhw]", "", w[1:])
    key = head if head not in "aeiou" else "A"
    for ch in tail:
        if ch != key[-1]:
            key += ch
    return key.upper()


@dataclass(frozen=True)
class Correction:
    heard: str
    meant: str
    score: float


class VocabularyCorrector:
    """Corrects unknown words in a query towards catalogue terms (brands, types, colours...)."""

    def __init__(self, terms: Iterable[str], known_words: Iterable[str]) -> None:
        phrases = {t.lower() for t in terms if t}
        # Single words of longer terms too: "blu tooth" is heard for the "bluetooth" of "bluetooth speaker".
        words = {w for t in phrases for w in WORD.findall(t)}
        self.terms = sorted(t for t in phrases | words if len(t) >= MIN_WORD)
        # Every word the catalogue uses anywhere: those are never "corrected".
        self.known = {w.lower() for w in known_words} | {w for t in self.terms for w in WORD.findall(t)}
        # Their plurals too: "hoodies" is what was said, not a misspelling of "hoodie".
        self.known |= {plural(w) for w in self.known}
        self._squashed = {re.sub(r"[\s-]", "", t): t for t in self.terms}
        self._choices = list(self._squashed)  # built once: extract() runs per word and per pair of words
        self._by_key: dict[str, list[str]] = defaultdict(list)
        for squashed, term in self._squashed.items():
            self._by_key[phonetic_key(squashed)].append(term)

    def _best(self, heard: str) -> Correction | None:
        squashed = re.sub(r"[\s-]", "", heard)
        if squashed in self._squashed:
            return Correction(heard, self._squashed[squashed], 100.0)
        # Among equally close spellings, the one that also sounds the same wins: "rench" is a wrench,
        # not French.
        key = phonetic_key(squashed)
        matches = process.extract(squashed, self._choices, scorer=fuzz.ratio, limit=5)
        if matches:
            name, score, _ = max(matches, key=lambda m: (m[1], phonetic_key(m[0]) == key))
            if score >= SPELLING_SCORE:
                return Correction(heard, self._squashed[name], score)
        alike = self._by_key.get(key, [])
        scored = [(fuzz.ratio(squashed, re.sub(r"[\s-]", "", t)), t) for t in alike]
        scored = [(s, t) for s, t in scored if s >= SOUNDS_ALIKE_SCORE]
        if scored:
            score, term = max(scored)
            return Correction(heard, term, score)
        return None

    def correct(self, text: str) -> tuple[str, list[Correction]]:
        """``text`` with unknown words replaced by catalogue terms, and what was replaced.

        Only the corrected words change; everything else ("$49.99", punctuation) stays as typed.
        """
        matches = list(WORD.finditer(text.lower()))
        pieces: list[str] = []
        corrections: list[Correction] = []
        done = 0  # end of the text already copied to pieces
        i = 0
        while i < len(matches):
            word = matches[i].group(0)
            unknown = word not in self.known and len(word) >= MIN_WORD and not word.isdigit()
            replaced_until, meant = -1, None
            # Two words heard apart ("blu tooth") may be one term; try the pair before the word.
            # Two real words need a closer match to be merged than a pair with an unknown word.
            if i + 1 < len(matches) and not {word, matches[i + 1].group(0)} & FUNCTION_WORDS:
                nxt = matches[i + 1].group(0)
                both_known = not unknown and nxt in self.known
                pair = self._best(f"{word} {nxt}")
                if pair and pair.score >= (PAIR_OF_WORDS_SCORE if both_known else SPELLING_SCORE):
                    replaced_until, meant = i + 1, pair
            if meant is None and unknown:
                single = self._best(word)
                if single:
                    replaced_until, meant = i, single
            if meant is None:
                i += 1
                continue
            start, end = matches[i].start(), matches[replaced_until].end()
            if meant.meant != text[start:end].lower():
                pieces += [text[done:start], meant.meant]
                done = end
                corrections.append(meant)
            i = replaced_until + 1
        pieces.append(text[done:])
        return "".join(pieces), corrections
