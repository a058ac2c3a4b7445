"""The turn-taking set's pauses replayed offline, to choose how the gateway decides a turn is over.

    python -m benchmarks.turn_replay --part dev

The gateway (bot/voice_turns.py) asks at each pause, 0.2 s into the silence: Smart Turn on the
audio so far, and the transcript model on Whisper's transcript of it. This replays exactly those
questions for every turn of ``benchmarks/turn_taking.py``'s set, without the servers and the real
time: at each inner pause of a paused turn, and after the last word of every turn, with the
gateway's own recogniser, models and settings (``bot.speech.SpeechService``). Then each rule is
scored on the answers: a paused turn is cut off when the rule ends it at an inner pause; a turn
that was not cut off is answered at once when the rule ends it after the last word, and otherwise
waits for the fallback silence (1.0 s). Thresholds are chosen here, on dev; the gateway benchmark
(``turn_taking``) then measures the chosen rule in real time. Results: ``results/turn_replay_<part>.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from tqdm import tqdm

from benchmarks.common import RESULTS, command, machine, wilson, write_result
from benchmarks.turn_taking import synthetic_turns
from bot.speech import SpeechService
from bot.voice_turns import PAUSE_S, TurnPolicy
from voice.audio import SAMPLE_RATE
from voice.settings import VoiceSettings


@dataclass
class Ask:
    """One question the gateway asks: at an inner pause (``last`` False) or after the last word."""

    turn: str
    kind: str
    noisy: bool
    last: bool
    heard: float  # Smart Turn
    read: float | None  # the transcript model
    text: str  # Whisper's transcript of the audio so far


def ask_all(part: str) -> list[Ask]:
    settings = VoiceSettings.from_env()
    speech = SpeechService(settings)
    speech.load()
    if speech.recognizer is None or speech.turn_model is None or speech.text_turn_model is None:
        raise SystemExit(f"the gateway's models did not load: {speech.health()}; run `make voice`")
    asks = []
    for turn in tqdm(synthetic_turns(part), desc="asking at every pause", unit="turn"):
        points = [*turn.pauses_s, turn.last_word_s]
        for k, at in enumerate(points):
            audio = turn.samples[: int((at + PAUSE_S) * SAMPLE_RATE)]
            text = speech.recognizer.transcribe(audio).text
            heard = speech.turn_model.complete(audio)
            asks.append(
                Ask(turn.name, turn.kind, turn.noisy, k == len(points) - 1, heard, speech.text_complete(text), text)
            )
    return asks


Rule = Callable[[Ask], bool]


def score(asks: list[Ask], rule: Rule) -> dict[str, float]:
    by_turn: dict[str, list[Ask]] = {}
    for ask in asks:
        by_turn.setdefault(ask.turn, []).append(ask)
    paused = [t for t in by_turn.values() if t[0].kind == "paused"]
    cut = sum(any(rule(a) for a in t if not a.last) for t in paused)
    kept = [t for t in by_turn.values() if not (t[0].kind == "paused" and any(rule(a) for a in t if not a.last))]
    at_once = sum(rule(t[-1]) for t in kept)
    return {"paused": len(paused), "cut": cut, "kept": len(kept), "at_once": at_once}


def rules() -> dict[str, Rule]:
    """Smart Turn alone (the gateway before), and both models at a grid of thresholds."""
    found: dict[str, Rule] = {}
    for heard in (0.5, 0.7):
        alone = TurnPolicy(threshold=heard)
        found[f"Smart Turn >= {heard} alone"] = lambda a, p=alone: p.finished(a.heard, None, a.text)
    for heard in (0.1, 0.2, 0.3, 0.4, 0.5):
        for read in (0.4, 0.5, 0.6, 0.7):
            both = TurnPolicy(threshold=heard, text_threshold=read)
            found[f"Smart Turn >= {heard} and words >= {read}"] = lambda a, p=both: p.finished(a.heard, a.read, a.text)
    return found


def report(part: str, asks: list[Ask], minutes: float) -> str:
    settings = VoiceSettings.from_env()
    lines = [
        f"# End of turn replayed at every pause ({part})",
        "",
        f"Command: `{command('benchmarks.turn_replay', '--part', part)}`  ",
        f"Machine: {machine()}. Took {minutes:.0f} min.",
        "",
        f"Each turn of the turn-taking set's {part} part asked as the gateway asks, {PAUSE_S} s into each "
        "pause: Smart Turn on the audio so far, the transcript model on Whisper's transcript of it. Cut off: "
        "a paused turn the rule ends at an inner pause. At once: a turn not cut off that the rule ends "
        "after its last word (the others wait for the 1.0 s fallback silence). Shipped thresholds: Smart "
        f"Turn {settings.turn_threshold}, words {settings.turn_text_threshold}.",
        "",
        "| rule | inner-pause turns cut off (95 % CI) | answered at once |",
        "|---|---|---|",
    ]
    for name, rule in rules().items():
        s = score(asks, rule)
        low, high = wilson(int(s["cut"]), int(s["paused"]))
        lines.append(
            f"| {name} | {s['cut']}/{s['paused']} ({100 * low:.0f}-{100 * high:.0f} %) | {s['at_once']}/{s['kept']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("dev", "test", "test2"), default="dev")
    args = parser.parse_args()
    started = time.perf_counter()
    asks = ask_all(args.part)
    out = RESULTS / f"turn_replay_{args.part}.md"
    write_result(out.with_suffix(".json"), json.dumps([asdict(a) for a in asks], indent=0))
    text = report(args.part, asks, (time.perf_counter() - started) / 60)
    write_result(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
