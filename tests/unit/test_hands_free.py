"""Barge-in for the voice client: the echo detector and the reply player (voice/hands_free.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from voice.audio import SAMPLE_RATE, frame_levels, load_file
from voice.hands_free import (
    ECHO_WARMUP_FRAMES,
    ECHO_WINDOW_S,
    FRAME,
    FRAME_S,
    ONSET_FRAMES,
    BargeInDetector,
    ReplyPlayer,
    WavOutput,
)


def syllables(seconds: float, peak: float, seed: int) -> np.ndarray:
    """Speech-like sound: noise under a 4 Hz syllable envelope whose loudness changes word to word."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    words = np.repeat(rng.uniform(0.3, 1.0, int(seconds * 2) + 1), SAMPLE_RATE // 2)[: len(t)]
    return (rng.standard_normal(len(t)) * envelope * words * peak / 1.5).astype(np.float32)


def levels(samples: np.ndarray) -> list[float]:
    return frame_levels(samples, FRAME).tolist()


def room_echo(played: np.ndarray, gain: float) -> np.ndarray:
    """What a microphone hears of a loudspeaker: 30 ms later, with a 300 ms reverberant tail."""
    t = np.arange(int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
    response = np.exp(-t * 23) * np.random.default_rng(9).standard_normal(len(t))  # -60 dB at 0.3 s
    response *= gain / np.sqrt(np.sum(response**2))
    delayed = np.concatenate([np.zeros(int(0.03 * SAMPLE_RATE)), played])
    return np.convolve(delayed, response)[: len(played)].astype(np.float32)


def onsets(detector: BargeInDetector, microphone: np.ndarray, played: np.ndarray) -> list[int]:
    """Frames (from the start of the reply) where the detector hears the shopper over it."""
    for level in levels(np.random.default_rng(5).standard_normal(SAMPLE_RATE) * 0.002):  # the room before
        assert not detector.feed(level, None)
    out = levels(played)
    window = round(ECHO_WINDOW_S / FRAME_S)
    return [
        index
        for index, level in enumerate(levels(microphone))
        if detector.feed(level, max(out[max(0, index - window + 1) : index + 1]))
    ]


def test_the_bots_own_voice_alone_never_interrupts_it() -> None:
    played = syllables(8.0, 0.3, seed=1)
    noise = np.random.default_rng(2).standard_normal(len(played)) * 0.002
    for gain in (0.05, 0.3, 1.0, 2.0):  # a faint echo to a loudspeaker louder than the shopper
        assert onsets(BargeInDetector(), room_echo(played, gain) + noise, played) == [], gain


def test_the_shopper_speaking_over_the_echo_interrupts_within_100_ms_of_the_first_syllable() -> None:
    played = syllables(5.0, 0.3, seed=3)
    shopper = np.zeros_like(played)
    start = int(2.0 * SAMPLE_RATE)
    shopper[start:] = syllables(3.0, 0.3, seed=4)[: len(played) - start]  # as loud as the bot's voice
    found = onsets(BargeInDetector(), room_echo(played, 0.3) + shopper, played)
    # The syllable envelope rises from 0 at 2.0 s: the first frames are quiet in any detector.
    assert found and 0 <= found[0] * FRAME_S - 2.0 <= ONSET_FRAMES * FRAME_S + 0.06, found


def test_the_first_300_ms_teach_the_echo_and_later_replies_can_be_interrupted_at_once() -> None:
    played = syllables(2.0, 0.3, seed=6)
    loud = np.random.default_rng(7).standard_normal(len(played)).astype(np.float32) * 0.3
    assert all(frame >= ECHO_WARMUP_FRAMES for frame in onsets(BargeInDetector(), loud, played))
    detector = BargeInDetector()
    assert onsets(detector, room_echo(played, 0.3), played) == []  # a reply the shopper let finish
    # The next reply: the echo's gain is known, so the shopper is heard from its first frames.
    speaks_at_once = room_echo(played, 0.3)
    speaks_at_once[int(0.1 * SAMPLE_RATE) :] += loud[int(0.1 * SAMPLE_RATE) :]
    assert min(onsets(detector, speaks_at_once, played)) == 5 + ONSET_FRAMES - 1


def test_the_player_stops_at_once_and_drops_the_rest_of_the_reply(tmp_path: Path) -> None:
    tone = (np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE) * 0.3).astype(np.float32)
    player = ReplyPlayer(WavOutput(tmp_path / "played.wav"))
    player.add("first sentence", tone)
    player.add("second sentence", tone)
    time.sleep(0.3)
    assert player.playing
    player.interrupt()
    time.sleep(0.1)
    assert not player.playing
    player.add("the next reply", tone[: SAMPLE_RATE // 5])
    time.sleep(0.4)
    player.close()
    assert [(p.text, p.interrupted) for p in player.log] == [("first sentence", True), ("the next reply", False)]
    played = load_file(tmp_path / "played.wav").duration_s
    assert 0.4 <= played <= 0.6, played  # ~0.3 s of the first, then all 0.2 s of the next
