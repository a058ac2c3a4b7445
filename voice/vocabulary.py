"""What the shop sells, as speech biasing: corrections of misheard names, and spoken digits.

Whisper knows English, not this shop: "Tiny Tots" may come back as "tiny tops", a brand as a
common word. The shop's own words (brands, product types, name words) correct words Whisper
wrote that are not English, with the same corrector product search uses. Order numbers read
digit by digit come back as "1-0-0-4-2" or "1 0 0 4 2"; they are joined into "10042".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from language.fuzzy import VocabularyCorrector
from voice.settings import VoiceSettings
from voice.sound_alike import BrandSoundAlikes

# An optional initial prompt for Whisper (SHOPKEEPER_ASR_PROMPT=shop). It lowered WER on the tuning
# part of the speech set (a list of brand names as the prompt made things worse), but did not help
# on the held-out voices and hurt on real speech (benchmarks/results/asr.md), so it is off by default.
SHOP_PROMPT = "A shopper talks to an online shop about products, the cart, orders, returns, refunds and delivery."

# Three or more single digits separated by hyphens or spaces: an id read digit by digit.
_DIGIT_RUN = re.compile(r"\b\d(?:[\s-]\d){2,}\b")
# Whisper writes "cart" as "card" ("add it to my card"). Something goes *to, in, into* or *from*
# a cart; a payment card is what one pays, is charged or refunded with, so those words keep it.
_CARD_AS_CART = re.compile(r"\b(to|in|into|from)( my| the| your) card\b", re.IGNORECASE)
_PAYMENT_WORDS = re.compile(
    r"\b(pay|paid|paying|payment|charged?|refund(ed)?|credit|debit|bank|declined|"
    r"bill(ed)?|visa|mastercard|expired?|number|details|pin|money)\b",
    re.IGNORECASE,
)


def card_as_cart(text: str) -> str:
    """'what's in my card' -> 'what's in my cart', unless the sentence is about paying."""
    if _PAYMENT_WORDS.search(text):
        return text
    return _CARD_AS_CART.sub(lambda m: f"{m.group(1)}{m.group(2)} cart", text)


def join_spoken_digits(text: str) -> str:
    """'order 1-0-0-4-2' -> 'order 10042'; ordinary numbers are left alone."""
    return _DIGIT_RUN.sub(lambda m: re.sub(r"[\s-]", "", m.group(0)), text)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Whole words of the bundled text encoder's vocabulary (30k English words), read from its file."""
    from language.encoder import default_encoder_dir

    vocab = Path(default_encoder_dir()) / "vocab.txt"
    words = vocab.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and len(w) > 1)


class DomainCorrector:
    """The bot's own entity words (voice/domain_words.py) for a bot without a shop catalogue (a café
    counter): correction towards them, digit joining, and the names decoding is biased towards."""

    def __init__(self, words: Iterable[str], known: Iterable[str] = ()) -> None:
        self.terms = sorted(set(words))
        self._corrector = VocabularyCorrector(self.terms, set(english_words()) | set(known))

    def correct(self, text: str) -> tuple[str, list]:
        corrected, corrections = self._corrector.correct(text)
        return join_spoken_digits(corrected), corrections


class ShopCorrector:
    """Catalogue correction, brands heard as other words, "card" heard for "cart" and digit joining, behind
    ``correct(text) -> (text, corrections)``."""

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        from catalog import STOP_WORDS, LexicalSearch, Store, shop_corrector

        store = Store(db)
        try:
            vocabulary = LexicalSearch(store).vocabulary
            if not vocabulary.brands:
                raise FileNotFoundError(f"the shop database {db or 'catalog/shop.db'} has no products")
            self._corrector = shop_corrector(store, vocabulary, set(english_words()))
            v = vocabulary
            shop_words = {
                w
                for t in (*v.colors, *v.materials, *v.sizes, *v.categories, *v.product_types)
                for w in t.lower().split()
            }
            self.sound_alikes = BrandSoundAlikes(v.brands, v.product_types, shop_words | STOP_WORDS)
            # The names decoding is biased towards (voice/biasing.py).
            self.terms = sorted(set(v.brands) | set(v.product_types))
        finally:
            store.close()

    def correct(self, text: str) -> tuple[str, list]:
        corrected, corrections = self._corrector.correct(text)
        corrected, sound_alikes = self.sound_alikes.correct(corrected)
        return join_spoken_digits(card_as_cart(corrected)), [*corrections, *sound_alikes]


def shop_corrector(db: str | os.PathLike[str] | None = None) -> ShopCorrector | None:
    """The corrector for the shop database (SHOPKEEPER_DB or catalog/shop.db); None when there is none.
    The NLU data's entity words (DomainCorrector) are not used here yet: falling back to them when
    the catalogue could not be read made the own-shop end-to-end test hear "urban sneaker" as
    "urban speaker", a word of the demo shop's NLU data (issue 24's note)."""
    from catalog import StoreError

    try:
        return ShopCorrector(db)
    except (StoreError, FileNotFoundError, OSError) as error:
        print(f"note: no shop catalogue for speech correction ({error}); transcripts are left as heard")
        return None


def default_prompt(settings: VoiceSettings | None = None) -> str | None:
    """The prompt the gateway and CLI give Whisper: none unless SHOPKEEPER_ASR_PROMPT asks for one."""
    value = (settings or VoiceSettings.from_env()).prompt
    return SHOP_PROMPT if value == "shop" else (value or None)
