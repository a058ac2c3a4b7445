"""Barge-in for the voice client: the echo detector and the reply player (voice/hands_free.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from voice.audio import SAMPLE_RATE, load_file
from voice.hands_free import FRAME, FRAME_S, ONSET_FRAMES, BargeInDetector, ReplyPlayer, WavOutput


def syllables(seconds: float, peak: float, seed: int) -> np.ndarray:
    """Speech-like sound: noise under a 4 Hz syllable envelope whose loudness changes word to word."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    words = np.repeat(rng.uniform(0.3, 1.0, int(seconds * 2) + 1), SAMPLE_RATE // 2)[: len(t)]
    return (rng.standard_normal(len(t)) * envelope * words * peak / 1.5).astype(np.float32)


def levels(samples: np.ndarray) -> list[float]:
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)).tolist()


def first_onset(detector: BargeInDetector, room: list[float], while_bot_speaks: list[float]) -> int | None:
    """Frame index (from the start of the reply) where the detector hears the shopper, or None."""
    for level in room:
        assert not detector.feed(level, bot_speaking=False)
    for index, level in enumerate(while_bot_speaks):
        if detector.feed(level, bot_speaking=True):
            return index
    return None


def test_the_bots_own_voice_alone_never_interrupts_it() -> None:
    room = levels(np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.003)
    for gain in (0.05, 0.3, 1.0):  # a faint echo to a loudspeaker as loud as the shopper
        echo = syllables(6.0, 0.3 * gain, seed=1) + np.random.default_rng(2).standard_normal(6 * SAMPLE_RATE) * 0.003
        assert first_onset(BargeInDetector(), room, levels(echo)) is None, gain


def test_the_shopper_speaking_over_the_echo_interrupts_within_100_ms_of_the_first_syllable() -> None:
    room = levels(np.zeros(SAMPLE_RATE, np.float32) + 0.001)
    echo = syllables(5.0, 0.1, seed=3)
    shopper = np.zeros_like(echo)
    start = int(2.0 * SAMPLE_RATE)
    shopper[start:] = syllables(3.0, 0.5, seed=4)[: len(echo) - start]
    onset = first_onset(BargeInDetector(), room, levels(echo + shopper))
    # The syllable envelope rises from 0 at 2.0 s: the first frames are quiet in any detector.
    assert onset is not None and 0 <= onset * FRAME_S - 2.0 <= ONSET_FRAMES * FRAME_S + 0.06, onset


def test_the_first_300_ms_of_a_reply_only_teach_the_echo() -> None:
    # A loud start of the reply (its echo before any level is known) does not interrupt it...
    loud_start = [0.5] * 15 + [0.05] * 85
    assert first_onset(BargeInDetector(), [0.001] * 50, loud_start) is None
    # ...and a second later, once it is out of the echo history, speech over the reply does.
    assert first_onset(BargeInDetector(), [0.001] * 50, loud_start + [0.5] * 10) == 100 + ONSET_FRAMES - 1


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
