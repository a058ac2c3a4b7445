"""Spoken and written numbers: "fifty" -> 50, "one zero zero four two" -> "10042".

Speech recognisers and people write numbers as words; search filters, quantities and order
ids need digits. Runs of single digits ("one two three") are read as a digit string (ids),
anything else as a cardinal ("twenty five" -> 25).
"""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "oh": 0,
    "nought": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1000}
DIGIT_WORDS = {w for w, v in UNITS.items() if v < 10}
NUMBER_WORDS = set(UNITS) | set(TENS) | set(SCALES)

_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|\S")


def _cardinal(words: list[str]) -> int:
    total, current = 0, 0
    for word in words:
        if word in UNITS:
            current += UNITS[word]
        elif word in TENS:
            current += TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word == "thousand":
            total += max(current, 1) * 1000
            current = 0
    return total + current


def words_to_number(phrase: str) -> str | None:
    """Digits for a phrase made only of number words (and "and"), else None."""
    words = [w for w in re.split(r"[\s-]+", phrase.lower().strip()) if w and w != "and"]
    if not words or any(w not in NUMBER_WORDS for w in words):
        return None
    if len(words) > 1 and all(w in DIGIT_WORDS for w in words):
        return "".join(str(UNITS[w]) for w in words)
    return str(_cardinal(words))


def normalise_numbers(text: str) -> str:
    """Replace every run of number words in ``text`` with digits; other words are kept."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            # A trailing "and" belongs to the sentence, not the number.
            tail: list[str] = []
            while run and run[-1].lower() == "and":
                tail.insert(0, run.pop())
            if run:
                out.append(words_to_number(" ".join(run)) or " ".join(run))
            out.extend(tail)
            run.clear()

    for token in tokens:
        low = token.lower()
        # "and" belongs to a number only after a scale: "one hundred and five", not "20 and 40".
        if low in NUMBER_WORDS or (low == "and" and run and run[-1].lower() in SCALES):
            run.append(token)
        else:
            flush()
            out.append(token)
    flush()
    text_out = " ".join(out)
    # Undo the spaces the tokenizer put before punctuation.
    return re.sub(r"\s+([,.!?;:%)])", r"\1", text_out)


def digit_string(text: str) -> str | None:
    """The longest digit string in ``text`` after normalising spoken digits, e.g. for order ids."""
    normalised = normalise_numbers(text)
    # "1 0 0 4 2" typed with spaces counts as one id.
    joined = re.sub(r"(?<=\d)[\s-](?=\d)", "", normalised)
    candidates = re.findall(r"\d+", joined)
    return max(candidates, key=len) if candidates else None
