"""Barge-in for the voice client: how soon a spoken reply stops when the shopper speaks over it,
and whether the bot's own echo ever stops it (voice/hands_free.py ``BargeInDetector``).

    python -m benchmarks.barge_in --part dev [--margin 2.0 --onset 4]   # choose settings here
    python -m benchmarks.barge_in --part test                            # report once

The bot's replies are spoken by the server's voice (flite slt, as ``bot_audio`` sends them). The
loudspeaker's echo reaches the microphone through a real room impulse response
(../shared/data/speech/augment/rirs) 20 ms late, at a gain from 0 (headphones) to -10 dB; a noise
clip plays in the room at 30 dB under the shopper. Shoppers (flite and espeak-ng voices, kept
apart between the parts) start speaking at a random point of the reply, after its first half second. The detector runs
frame by frame, as the client runs it; the stop is counted from the first voiced sample of the
shopper's speech (an energy detector with no margin) to the end of the frame that stopped the reply.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from benchmarks.asr import augment_clips
from benchmarks.common import CACHE, RESULTS, command, machine, wilson, write_result
from voice.audio import SAMPLE_RATE, decode, frame_levels, load_file, rms, speech_bounds
from voice.hands_free import ECHO_MARGIN, ECHO_WINDOW_S, FRAME, FRAME_S, ONSET_FRAMES, BargeInDetector
from voice.speech_set import Voice, synthesize
from voice.tts import Speaker

# Each part has its own replies, interjections and shopper voices: the detector's settings are
# chosen on dev (--margin, --onset) and the test part is reported once with the shipped ones.
REPLIES = [
    "I found twelve rain jackets. The first is the Harbor Shell in navy, for eighty nine dollars.",
    "Your order ten zero zero four left our warehouse yesterday. It should arrive on Thursday.",
    "To return an item, tell me the order number. Returns are free within thirty days.",
    "Here are three headphones under one hundred dollars. Say tell me about the second one for more.",
    "I added the trail running shoes in size nine to your cart. Your cart now holds two items.",
    "A refund goes back to the card you paid with. It takes three to five working days.",
]
INTERJECTIONS = [
    "stop",
    "no wait",
    "actually show me the red one",
    "cancel that",
    "the second one please",
    "how much is shipping",
    "I meant the blue jacket",
    "can I talk to a person",
]
SHOPPERS = {
    "dev": [Voice("flite-rms", "flite", "rms", True), Voice("espeak-en-us", "espeak-ng", "en-us", False)],
    "test": [Voice("flite-awb", "flite", "awb", True), Voice("espeak-en-gb", "espeak-ng", "en-gb", False)],
}
ONSETS_PER_PAIR = 2  # random points of the reply where the shopper starts
ECHO_GAINS_DB = [None, -30.0, -20.0, -10.0]  # None: headphones, no echo at all
ECHO_DELAY_S = 0.02
NOISE_BELOW_SHOPPER_DB = 30.0
TARGET_S = 0.2


@dataclass
class Trial:
    gain_db: float | None
    stop_s: float | None  # None: the reply was never stopped while the shopper spoke
    false_stop: bool  # stopped before the shopper began (by the echo or the noise)


def echo_of(reply: np.ndarray, rir: np.ndarray, gain_db: float | None) -> np.ndarray:
    if gain_db is None:
        return np.zeros_like(reply)
    from scipy.signal import fftconvolve

    rir = rir / (np.sqrt(np.sum(rir**2)) + 1e-9)
    delayed = np.concatenate([np.zeros(int(ECHO_DELAY_S * SAMPLE_RATE), np.float32), reply])
    return (fftconvolve(delayed, rir)[: len(reply)] * 10 ** (gain_db / 20)).astype(np.float32)


def first_stop(microphone: np.ndarray, reply: np.ndarray, room: np.ndarray, detector: BargeInDetector) -> int | None:
    """The frame whose end stops the reply, running the client's detector frame by frame; it heard
    the ``room`` before (as it hears the shopper's turn before each reply)."""
    for heard in frame_levels(room, FRAME):
        detector.feed(float(heard), None)
    played = frame_levels(reply, FRAME)
    window = round(ECHO_WINDOW_S / FRAME_S)
    for index, heard in enumerate(frame_levels(microphone, FRAME)):
        if detector.feed(float(heard), float(played[max(0, index - window + 1) : index + 1].max())):
            return index
    return None


def part_of(items: list[str], part: str) -> list[str]:
    half = len(items) // 2
    return items[:half] if part == "dev" else items[half:]


Alone = dict[float | None, tuple[int, int]]  # per echo level: (whole replies stopped, replies)


def run(part: str, settings: dict[str, float], seed: int = 11) -> tuple[list[Trial], Alone]:
    """The trials of one part, and the whole replies heard back with nobody speaking: (stopped, replies)."""
    rng = np.random.default_rng(seed)
    rirs, noises = augment_clips()
    speaker = Speaker("slt")
    replies = [decode(speaker.speak(text)).samples for text in part_of(REPLIES, part)]
    shoppers = []
    for voice in SHOPPERS[part]:
        for text in part_of(INTERJECTIONS, part):
            name = f"{voice.name}-{abs(hash(text)) % 10**8}.wav"
            speech = load_file(synthesize(text, voice, CACHE / "barge_in" / name)).samples
            start, end = speech_bounds(speech, margin_s=0.0)
            shoppers.append(speech[start:end])

    def detector() -> BargeInDetector:
        return BargeInDetector(margin=settings["margin"], onset_frames=int(settings["onset"]))

    trials = []
    jobs = [(g, r, s) for g in ECHO_GAINS_DB for r in replies for s in shoppers for _ in range(ONSETS_PER_PAIR)]
    for gain_db, reply, shopper in tqdm(jobs, desc=f"barge-in trials ({part})", unit="trial"):
        onset = int(rng.uniform(0.5, len(reply) / SAMPLE_RATE - 0.5) * SAMPLE_RATE)
        shopper = shopper * (rms(reply) / rms(shopper)) * 10 ** (rng.uniform(-6, 0) / 20)  # up to 6 dB quieter
        microphone = echo_of(reply, rirs[rng.integers(len(rirs))], gain_db)
        end = min(len(microphone), onset + len(shopper))
        microphone[onset:end] += shopper[: end - onset]
        noise = np.resize(noises[rng.integers(len(noises))], len(microphone))
        noise = noise * (rms(shopper) / rms(noise)) * 10 ** (-NOISE_BELOW_SHOPPER_DB / 20)
        microphone += noise
        stop = first_stop(microphone, reply, noise[:SAMPLE_RATE], detector())
        stopped_at = None if stop is None else (stop + 1) * FRAME_S
        false_stop = stopped_at is not None and stopped_at <= onset / SAMPLE_RATE
        stop_s = None if stopped_at is None or false_stop else stopped_at - onset / SAMPLE_RATE
        trials.append(Trial(gain_db, stop_s, false_stop))
    alone: Alone = {}
    for gain_db in ECHO_GAINS_DB:
        stopped = total = 0
        for reply in replies:
            for rir in rirs:
                noise = np.resize(noises[rng.integers(len(noises))], len(reply))
                noise = noise * (rms(reply) / rms(noise)) * 10 ** (-NOISE_BELOW_SHOPPER_DB / 20)
                heard = echo_of(reply, rir, gain_db) + noise
                stopped += first_stop(heard, reply, noise[:SAMPLE_RATE], detector()) is not None
                total += 1
        alone[gain_db] = (stopped, total)
    return trials, alone


def report(part: str, settings: dict[str, float], trials: list[Trial], alone: Alone, minutes: float) -> str:
    args = ["--part", part, "--margin", str(settings["margin"]), "--onset", str(int(settings["onset"]))]
    lines = [
        f"# Barge-in ({part}): the voice client stops a spoken reply when the shopper speaks over it",
        "",
        f"Command: `{command('benchmarks.barge_in', *args)}`  ",
        f"Machine: {machine()}. Took {minutes:.1f} min. Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"{len(part_of(REPLIES, part))} replies (flite slt) x {len(part_of(INTERJECTIONS, part))} interjections x "
        f"{', '.join(v.name for v in SHOPPERS[part])}, {ONSETS_PER_PAIR} random starts each, per echo level; "
        "the shopper 0-6 dB quieter than the reply as played; "
        f"echo through a real room impulse response, {ECHO_DELAY_S * 1000:.0f} ms late; room noise (ESC-50 clips: "
        f"a dog, a car horn, thunder) {NOISE_BELOW_SHOPPER_DB:.0f} dB under the shopper. "
        "Stop: from the first voiced sample of the shopper. Detector: margin {settings['margin']} x the expected echo, "
        f"{int(settings['onset']) * FRAME_S * 1000:.0f} ms of speech.",
        "",
        f"| echo at the microphone | trials | stopped within {TARGET_S * 1000:.0f} ms (95 % CI) | stop p50 ms | p95 ms "
        "| never stopped | stopped before the shopper spoke | whole replies with nobody speaking, stopped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for gain_db in ECHO_GAINS_DB:
        rows = [t for t in trials if t.gain_db == gain_db]
        stops = [t.stop_s for t in rows if t.stop_s is not None]
        within = sum(s <= TARGET_S for s in stops)
        low, high = wilson(within, len(rows))
        name = "none (headphones)" if gain_db is None else f"{gain_db:.0f} dB"
        p50, p95 = (np.percentile(stops, q) * 1000 if stops else float("nan") for q in (50, 95))
        lines.append(
            f"| {name} | {len(rows)} | {within}/{len(rows)} ({100 * low:.0f}-{100 * high:.0f} %) | {p50:.0f} | "
            f"{p95:.0f} | {sum(t.stop_s is None and not t.false_stop for t in rows)} | "
            f"{sum(t.false_stop for t in rows)} | {alone[gain_db][0]}/{alone[gain_db][1]} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("dev", "test"), default="dev")
    parser.add_argument("--margin", type=float, default=ECHO_MARGIN, help="times the expected echo")
    parser.add_argument("--onset", type=int, default=ONSET_FRAMES, help="20 ms frames of speech that stop a reply")
    parser.add_argument("--out", type=Path, help="result file (default results/barge_in_<part>.md)")
    args = parser.parse_args()
    settings = {"margin": args.margin, "onset": float(args.onset)}
    started = time.perf_counter()
    trials, alone = run(args.part, settings)
    text = report(args.part, settings, trials, alone, (time.perf_counter() - started) / 60)
    write_result(args.out or RESULTS / f"barge_in_{args.part}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
