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

import numpy as np
from tqdm import tqdm

from benchmarks.common import RESULTS, command, machine, wilson, write_result
from benchmarks.turn_taking import synthetic_turns
from bot.speech import SpeechService
from bot.voice_turns import PAUSE_S, TurnPolicy
from voice.audio import SAMPLE_RATE
from voice.settings import VoiceSettings

# A second, later question: by this much silence a whole request has usually been answered, and a
# shopper reading a number has usually gone on (the set's inner pauses last 0.4-0.9 s).
LATE_S = 0.6
FALLBACK_S = 1.0


@dataclass
class Ask:
    """One question the gateway asks: at an inner pause (``pause_s`` long) or after the last word."""

    turn: str
    kind: str
    noisy: bool
    last: bool
    pause_s: float  # how long the silence lasts (inner pauses); after the last word, longer than any wait
    heard: float  # Smart Turn, PAUSE_S into the silence
    heard_late: float  # Smart Turn, LATE_S into it
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
        points = [*turn.pauses_s, (turn.last_word_s, FALLBACK_S + 1)]
        for k, (at, pause_s) in enumerate(points):
            audio = turn.samples[: int((at + PAUSE_S) * SAMPLE_RATE)]
            text = speech.recognizer.transcribe(audio).text
            heard = speech.turn_model.complete(audio)
            heard_late = speech.turn_model.complete(turn.samples[: int((at + LATE_S) * SAMPLE_RATE)])
            last = k == len(points) - 1
            read = speech.text_complete(text)
            asks.append(Ask(turn.name, turn.kind, turn.noisy, last, pause_s, heard, heard_late, read, text))
    return asks


# A rule answers two questions of an Ask: end the turn at the first pause? end it at LATE_S?
Rule = Callable[[Ask], tuple[bool, bool]]


def score(asks: list[Ask], rule: Rule) -> dict[str, float]:
    """Inner-pause turns cut off; for the others, how much silence the gateway waited after the last
    word before it decided (PAUSE_S, LATE_S or the fallback)."""
    by_turn: dict[str, list[Ask]] = {}
    for ask in asks:
        by_turn.setdefault(ask.turn, []).append(ask)

    def cuts(ask: Ask) -> bool:
        now, late = rule(ask)
        return now or (late and ask.pause_s > LATE_S)

    paused = [t for t in by_turn.values() if t[0].kind == "paused"]
    cut = [t for t in paused if any(cuts(a) for a in t if not a.last)]
    waited = []
    for t in by_turn.values():
        if t not in cut:
            now, late = rule(t[-1])
            waited.append(PAUSE_S if now else LATE_S if late else FALLBACK_S)
    return {
        "paused": len(paused),
        "cut": len(cut),
        "kept": len(waited),
        "at_once": waited.count(PAUSE_S),
        "late": waited.count(LATE_S),
        "waited_p50": float(np.median(waited)),
    }


def rules() -> dict[str, Rule]:
    """Smart Turn alone (the gateway before), both models at a grid of thresholds, and both with a
    second question at LATE_S (the words alone, or with Smart Turn asked again)."""
    found: dict[str, Rule] = {}
    for heard in (0.5, 0.7):
        alone = TurnPolicy(threshold=heard)
        found[f"Smart Turn >= {heard} alone"] = lambda a, p=alone: (p.finished(a.heard, None, a.text), False)
    for heard in (0.1, 0.2, 0.3, 0.4, 0.5):
        for read in (0.4, 0.5, 0.6, 0.7):
            both = TurnPolicy(threshold=heard, text_threshold=read)
            found[f"Smart Turn >= {heard} and words >= {read}"] = lambda a, p=both: (
                p.finished(a.heard, a.read, a.text),
                False,
            )
    shipped = TurnPolicy(threshold=0.3, text_threshold=0.7)
    for heard_late, read_late in ((0.0, 0.8), (0.0, 0.9), (0.0, 0.95), (0.3, 0.7), (0.3, 0.8), (0.5, 0.7)):
        late = TurnPolicy(threshold=heard_late, text_threshold=read_late)
        name = f"0.3 and 0.7; at {LATE_S} s Smart Turn >= {heard_late} and words >= {read_late}"
        found[name] = lambda a, second=late: (
            shipped.finished(a.heard, a.read, a.text),
            second.finished(a.heard_late, a.read, a.text),
        )
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
        "pause: Smart Turn on the audio so far, the transcript model on Whisper's transcript of it (and "
        f"Smart Turn again {LATE_S} s in, for the rules with a second question). Cut off: a paused turn "
        f"a rule ends at an inner pause (at {LATE_S} s only when the pause lasts longer). For the turns not "
        f"cut off, the silence waited after the last word: {PAUSE_S} s (at once), {LATE_S} s (late) or the "
        f"{FALLBACK_S} s fallback. Shipped thresholds: Smart Turn {settings.turn_threshold}, words "
        f"{settings.turn_text_threshold}.",
        "",
        "| rule | inner-pause turns cut off (95 % CI) | at once | late | silence waited p50 s |",
        "|---|---|---|---|---|",
    ]
    for name, rule in rules().items():
        s = score(asks, rule)
        low, high = wilson(int(s["cut"]), int(s["paused"]))
        lines.append(
            f"| {name} | {s['cut']}/{s['paused']} ({100 * low:.0f}-{100 * high:.0f} %) | {s['at_once']}/{s['kept']} "
            f"| {s['late']}/{s['kept']} | {s['waited_p50']:.1f} |"
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
