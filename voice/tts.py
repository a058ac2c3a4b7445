"""Spoken replies from the server, for clients that cannot speak themselves (the voice client's
``--speak``, a kiosk, later a phone line). The widget keeps the browser's own voice by default.

flite (Carnegie Mellon's, under a BSD-style licence that allows use, change and redistribution with
its notice kept; compatible with the project's MIT licence) runs as a program, one sentence at a
time, so the first sentence can be heard while the next is made. Nothing is fetched: the voices
are built into the Debian package (``make speech-tools`` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

MAX_SENTENCE_CHARS = 300  # a longer "sentence" (a list without full stops) is split at commas or spaces
MAX_REPLY_CHARS = 1500  # what is spoken of one reply; the rest is on the screen
SYNTH_TIMEOUT_S = 10.0
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


class SpeechOutputError(RuntimeError):
    """The voice cannot speak (flite missing or failing); the message says what to do."""


def plain_text(text: str) -> str:
    """Markdown as it is read aloud: links as their words, no emphasis marks or bullets."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    text = re.sub(r"[*_`#>]", "", text)
    text = re.sub(r"^\s*(\d+)\.\s+", r"\1: ", text, flags=re.M)  # "1. Trail Shoe" is a list line, not a sentence end
    return re.sub(r"^\s*[-•]\s+", "", text, flags=re.M).strip()


def sentences(text: str) -> Iterator[str]:
    """The reply in speakable pieces: sentences and list lines, none over MAX_SENTENCE_CHARS."""
    text = plain_text(text)[:MAX_REPLY_CHARS]
    for piece in SENTENCE_END.split(text):
        piece = " ".join(piece.split())
        while len(piece) > MAX_SENTENCE_CHARS:
            cut = max(piece.rfind(",", 0, MAX_SENTENCE_CHARS), piece.rfind(" ", 0, MAX_SENTENCE_CHARS))
            cut = cut if cut > 0 else MAX_SENTENCE_CHARS
            yield piece[: cut + 1].strip()
            piece = piece[cut + 1 :].strip()
        if re.search(r"\w", piece):
            yield piece


class Speaker:
    """One flite voice; ``speak(sentence)`` returns a 16 kHz mono 16-bit WAV file's bytes."""

    def __init__(self, voice: str = "slt", program: str = "flite") -> None:
        path = shutil.which(program)
        if path is None:
            raise SpeechOutputError(f"{program} is not installed; `make speech-tools` installs it")
        listed = subprocess.run([path, "-lv"], capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S).stdout
        voices = listed.split(":", 1)[-1].split()
        if voice not in voices:
            raise SpeechOutputError(f"{program} has no voice {voice!r}; it has {', '.join(voices)}")
        self.program, self.voice = path, voice

    def speak(self, sentence: str) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "reply.wav"
            # The text goes in a file: a reply starting with "-" must not read as an option.
            source = Path(tmp) / "reply.txt"
            source.write_text(sentence, encoding="utf-8")
            try:
                subprocess.run(
                    [self.program, "-voice", self.voice, "-f", str(source), "-o", str(out)],
                    check=True,
                    capture_output=True,
                    timeout=SYNTH_TIMEOUT_S,
                )
            except (subprocess.SubprocessError, OSError) as error:
                raise SpeechOutputError(f"{self.program} could not speak: {error}") from error
            return out.read_bytes()
