"""Turn an extracted entity span into the value the actions and slots expect.

Speech recognisers write numbers as words, so "under fifty dollars" must still give
price_max 50 and "order one zero zero four two" order_id 10042. Typed forms normalise the
same way ("$49.99" -> "49.99"). Entities without a canonical form keep their text, and
Rasa's EntitySynonymMapper maps synonyms afterwards.
"""

from __future__ import annotations

import re

from language.emails import EMAIL_RE, email_from_text
from language.numbers import digit_string, normalise_numbers

NUMERIC = {"price_min", "price_max", "quantity"}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# Five digits starting with 1, typed or as five spoken digit words.
_ORDER_ID_DIGITS = re.compile(r"\b1\d{4}\b")
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
_ORDER_ID_WORDS = re.compile(rf"\b{_DIGIT_WORD}(?:[\s-]+{_DIGIT_WORD}){{4}}\b", re.IGNORECASE)


def _number(text: str) -> int | float | None:
    spoken = re.sub(r"\b(an?)\s+(hundred|thousand)\b", r"one \2", text.lower())
    found = _NUMBER.search(normalise_numbers(spoken))
    if not found:
        return None
    value = float(found.group(0).replace(",", "."))
    return int(value) if value.is_integer() else value


def normalise_value(label: str, text: str) -> str:
    """Canonical value of an entity of type ``label`` whose surface text is ``text``.

    Always a string ("50", "49.99", "10042"), as Rasa's synonym mapper and story tests expect.
    """
    if label == "order_id":
        digits = digit_string(re.sub(r"\boh\b", "zero", text, flags=re.IGNORECASE))
        return digits or text
    if label in NUMERIC:
        number = _number(text)
        return str(number) if number is not None else text
    if label == "email":
        return email_from_text(text) or text
    return text


# The words just before a price say which bound it is, whatever the tagger guessed.
_PRICE_MAX_CUE = re.compile(
    r"\b(under|below|less than|cheaper than|up to|at most|max(imum)?|no more than|within|budget( of| is)?)\s*\$?$"
)
_PRICE_MIN_CUE = re.compile(r"\b(over|above|more than|at least|min(imum)?|from|starting at|between)\s*\$?$")


def price_bound(label: str, before: str) -> str:
    """price_min or price_max for a price whose preceding text is ``before``; other labels unchanged."""
    if label not in ("price_min", "price_max"):
        return label
    tail = before.lower().rstrip()[-40:]
    if _PRICE_MAX_CUE.search(tail):
        return "price_max"
    if _PRICE_MIN_CUE.search(tail):
        return "price_min"
    return label


def pattern_spans(text: str) -> list[tuple[int, int, str]]:
    """Order ids and emails found by their shape, whatever the sentence around them says."""
    found = [(m.start(), m.end(), "order_id") for m in _ORDER_ID_DIGITS.finditer(text)]
    found += [(m.start(), m.end(), "order_id") for m in _ORDER_ID_WORDS.finditer(text)]
    found += [(m.start(), m.end(), "email") for m in EMAIL_RE.finditer(text)]
    spoken = re.search(r"\b[\w.]+(?:\s+dot\s+\w+)*\s+at\s+\w+(?:\s+dot\s+\w+)+\b", text, re.IGNORECASE)
    if spoken and email_from_text(spoken.group(0)):
        found.append((spoken.start(), spoken.end(), "email"))
    return found
