"""The domain's own value for an entity written another way: "light-roast", "8-ounce", "lattes".

A recogniser writes what it heard in its own forms: digits for number words, hyphens for spaces, a
plural for a singular. The bot's training data says which values each entity has (the values of
its annotated examples, its synonyms and its lookup tables). At training time every such value is
filed under a key that ignores those differences; at run time an extracted entity whose key is on
file gets the domain's value, before Rasa's synonym mapper sees it. Any domain (a café, a
pharmacy) gets this from its own data: nothing here knows about shops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from language.numbers import normalise_numbers

FILE = "entity_forms.json"
# Entities whose value is computed from their text (nlu/entity_values.py), not looked up.
COMPUTED = frozenset({"price_min", "price_max", "quantity", "order_id", "email"})
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A crude stem, the same for every form of a word: "berries", "berry" -> "berri"; "lattes",
    "latte" -> "latt"; "glasses", "glass" -> "glass". Only keys are made with it, never values."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word[:-1] + "i" if len(word) > 2 and word.endswith("y") else word


def form_key(text: str) -> str:
    """What stays of a value when case, hyphens, apostrophes, number words and plurals are set aside:
    "Light-Roast", "light roast" -> "light roast"; "eight ounce", "8-ounce" -> "8 ounce"."""
    spaced = re.sub(r"['’]s\b", "", text.lower())
    spaced = re.sub(r"[-‐_/]+", " ", spaced).replace("'", "").replace("’", "")
    return " ".join(_stem(w) for w in _WORD.findall(normalise_numbers(spaced)))


class EntityForms:
    """Per entity, key -> the domain's value (a synonym's target when the form is a synonym)."""

    def __init__(self, values: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.values: dict[str, dict[str, str]] = {label: dict(keys) for label, keys in (values or {}).items()}

    @classmethod
    def learn(
        cls,
        annotated: Iterable[tuple[str, str, str]],
        synonyms: Mapping[str, str],
        tables: Mapping[str, Iterable[str]],
    ) -> EntityForms:
        """From (entity, surface text, value) of the annotated examples, the synonyms (form ->
        value) and the lookup tables (named after their entity). A key two different values claim
        is dropped: a wrong value is worse than the form as heard."""
        claims: dict[str, dict[str, set[str]]] = {}

        def claim(label: str, form: str, value: str) -> None:
            if label in COMPUTED or not (key := form_key(form)):
                return
            claims.setdefault(label, {}).setdefault(key, set()).add(synonyms.get(value.lower(), value))

        labels: set[str] = set()
        for label, surface, value in annotated:
            labels.add(label)
            claim(label, surface, value)
            claim(label, value, value)
        for label, values in tables.items():
            labels.add(label)
            for value in values:
                claim(label, value, value)
        # A synonym belongs to the entities whose values it maps to (Rasa's synonyms carry no entity).
        for form, value in synonyms.items():
            for label in labels:
                if form_key(value) in claims.get(label, {}):
                    claim(label, form, value)
        return cls(
            {
                label: {key: next(iter(found)) for key, found in keys.items() if len(found) == 1}
                for label, keys in claims.items()
            }
        )

    def canonical(self, label: str, value: str) -> str:
        """The domain's value for ``value`` of entity ``label``; ``value`` itself when none is on file."""
        return self.values.get(label, {}).get(form_key(value), value)

    def save(self, folder: Path) -> None:
        (folder / FILE).write_text(json.dumps(self.values, indent=1, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> EntityForms:
        """The forms saved with a model; none for a model trained before they existed."""
        path = folder / FILE
        return cls(json.loads(path.read_text(encoding="utf-8"))) if path.exists() else cls()
