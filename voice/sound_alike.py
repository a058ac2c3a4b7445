"""Brand names Whisper heard as other words ("a context smartwatch" for "a Kinetix smartwatch").

Spelling correction leaves real English words alone, and a brand misheard as English is exactly
that. Here words are compared by how they sound: the catalogue's phonetic key (a consonant
skeleton, language.fuzzy.phonetic_key) and the edit similarity between keys, which must start
with the same sound. A sound-alike is replaced only where a brand is expected: the one to three
words right before a product type ("... smartwatch", but not right after "I" or "you"), or right
after "from". The threshold was chosen on the tuning parts (benchmarks/asr_sound_alike.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

from language.fuzzy import Correction, phonetic_key

# The word that introduces a brand: "boots from Trailhawk". ("by" is not one: "by email", "by Friday".)
BRAND_AFTER = {"from"}
# After these comes a verb, not a brand: "do you carry cat scratchers" keeps "carry" (not Carrow).
SUBJECTS = {"i", "you", "we", "they"}
LONGEST_HEARD = 3  # a brand can be heard as up to three words ("next we dot" for "Nestwood")


class BrandSoundAlikes:
    def __init__(
        self, brands: Iterable[str], product_types: Iterable[str], known_words: Iterable[str], threshold: float = 0.65
    ) -> None:
        self.brands = {phonetic_key(b): b for b in brands}
        self.brand_words = {w for b in self.brands.values() for w in b.lower().split()}
        # Longest first, so "running shoes" is found before "shoes".
        self.types = sorted({t.lower() for t in product_types}, key=lambda t: -len(t.split()))
        self.known = {w.lower() for w in known_words}  # shop words (colours, types...) and stop words
        self.threshold = threshold

    def correct(self, text: str) -> tuple[str, list[Correction]]:
        words = text.split()
        bare = [re.sub(r"[^\w'&-]", "", w).lower() for w in words]
        found: list[Correction] = []
        for end in sorted(self._brand_slots(bare), reverse=True):  # right to left keeps indices valid
            best: tuple[float, int, str] | None = None
            for length in range(1, LONGEST_HEARD + 1):
                start = end - length
                if start < 0 or any(self._not_a_brand(w) for w in bare[start:end]):
                    break
                if start > 0 and bare[start - 1] in SUBJECTS:
                    continue
                key = phonetic_key("".join(bare[start:end]))
                for brand_key, brand in self.brands.items():
                    if key[:1] != brand_key[:1]:  # the first sound is the one heard best: "person" is no Greystone
                        continue
                    score = Levenshtein.normalized_similarity(key, brand_key)
                    if score >= self.threshold and (best is None or score > best[0]):
                        best = (score, start, brand)
            if best is not None:
                score, start, brand = best
                heard = " ".join(words[start:end])
                trailing = re.sub(r"^.*?([^\w'&-]*)$", r"\1", words[end - 1])  # keep "?" or "," after it
                words[start:end] = [brand + trailing]
                bare[start:end] = [brand.lower()]
                found.append(Correction(heard, brand, round(100 * score, 1)))
        return " ".join(words), found

    def _not_a_brand(self, word: str) -> bool:
        """Shop words, stop words, numbers and brands already said are never a misheard brand."""
        return word in self.known or word in self.brand_words or not re.search(r"[a-z]", word)

    def _brand_slots(self, bare: list[str]) -> set[int]:
        """Word positions a brand ends just before: a product type starts there, or "from" came before."""
        slots = set()
        for i in range(len(bare)):
            for t in self.types:
                n = len(t.split())
                said = " ".join(bare[i : i + n])
                if said in (t, t + "s", t + "es"):
                    slots.add(i)
                    break
        # After "from", the heard brand runs to the sentence end or the next known word.
        for i, w in enumerate(bare):
            if w in BRAND_AFTER:
                j = i + 1
                while j < len(bare) and j - i <= LONGEST_HEARD and not self._not_a_brand(bare[j]):
                    j += 1
                if j > i + 1:
                    slots.add(j)
        return slots
