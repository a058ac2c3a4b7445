"""How replies are cut into spoken sentences (voice/tts.py); the voice itself is tested end to end
(tests/e2e/test_gateway.py: the recogniser hears each spoken sentence back)."""

from __future__ import annotations

import pytest

from voice.tts import MAX_REPLY_CHARS, MAX_SENTENCE_CHARS, Speaker, SpeechOutputError, plain_text, sentences


def test_markdown_is_read_as_words() -> None:
    assert plain_text("See **[the tent](https://shop/x)** now") == "See the tent now"
    assert plain_text("- one\n- two") == "one\ntwo"


def test_list_lines_are_sentences_and_their_numbers_are_not_sentence_ends() -> None:
    reply = "Here are 2 results:\n1. Trail Shoe - $80\n2. Road Shoe - $90. Want more?"
    assert list(sentences(reply)) == ["Here are 2 results:", "1: Trail Shoe - $80", "2: Road Shoe - $90.", "Want more?"]


def test_long_and_empty_pieces() -> None:
    long = ", ".join(["a very long list item"] * 40)
    pieces = list(sentences(long))
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE_CHARS + 1 for p in pieces)
    assert sum(len(p) for p in sentences("word " * 2000)) <= MAX_REPLY_CHARS
    assert list(sentences("...\n\n  ** **")) == []


def test_an_unknown_voice_or_program_is_a_clear_error() -> None:
    with pytest.raises(SpeechOutputError, match="not installed"):
        Speaker(program="no-such-tts-program")
