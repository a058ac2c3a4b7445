"""Turn-taking through the real gateway: how soon the bot answers after the shopper's last word, and
how often it answers before the shopper has finished.

    python -m benchmarks.turn_taking --part dev            # where settings are chosen
    python -m benchmarks.turn_taking --part test           # reported once, settings frozen
    python -m benchmarks.turn_taking --part test2          # a fresh test part, once test had been reported
    python -m benchmarks.turn_taking --part test3          # another, once test2 had steered choices
    python -m benchmarks.turn_taking --part real           # real read speech, whole and paused mid-sentence

Each spoken turn is streamed in real time into ``bot.gateway`` (with Rasa and the action server) the
way a hands-free microphone streams: the speech, then the silence of a microphone left open, and no
``user_audio_end`` — the gateway has to decide that the turn is over. The same turns go through two
gateways in one run: ``silence`` (the turn ends after a fixed 0.5 s of quiet: what clients did
before) and ``model`` (Smart Turn and the transcript model at each pause, a fallback silence;
bot/voice_turns.py).

Speech (``data/turn_taking.yml``, voices apart between dev and test):
- finished requests, then 2.5 s of open microphone;
- requests with pauses inside ("my order number is | one zero zero | zero four"): spoken in one
  piece with a comma at each "|" (so the voice keeps the intonation of a sentence going on), then
  a pause drawn from PAUSE_RANGE_S (seeded) put in at each comma (``with_pauses``);
- every second turn convolved with a room and mixed with an environmental noise at NOISE_SNR_DB
  (the noise goes on through the pauses, as it does in a room).

Measured from the last voiced sample of the clean speech, as the shopper's last word reaches the
gateway (chunk k leaves once its 100 ms have been "recorded"): the first bot reply; the transcript;
how much silence the gateway listened to before ending the turn. A turn is cut off when the gateway
ended a turn before the last word (the ended audio stops short of it). Results:
``results/turn_taking_<part>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from benchmarks.asr import reverb_and_noise
from benchmarks.common import CACHE, DEMO_DB, RESULTS, ROOT, command, machine, shared_data, wilson, write_result
from voice.audio import SAMPLE_RATE, load_file, speech_bounds
from voice.speech_set import Voice, synthesize

DATA = ROOT / "benchmarks" / "data" / "turn_taking.yml"
VOICES = {
    "dev": (Voice("flite-slt", "flite", "slt", natural=True), Voice("flite-kal16", "flite", "kal16", natural=False)),
    "test": (
        Voice("flite-rms", "flite", "rms", natural=True),
        Voice("flite-awb", "flite", "awb", natural=True),
        Voice("festival-kal", "festival", "kal_diphone", natural=False),
    ),
}
VOICES["test2"] = VOICES["test"]  # a fresh test part (new sentences), written once `test` had been reported
# A third, once choices had been made looking at test2: its natural voices never in dev, and a new robotic one.
VOICES["test3"] = (VOICES["test"][0], VOICES["test"][1], Voice("espeak-en-gb", "espeak-ng", "en-gb", natural=False))
REAL = ("librivox", "speechbrain_samples", "arctic")
PAUSE_RANGE_S = (0.4, 0.9)  # pauses inside a turn: reading a number, spelling, "um"
LEAD_S, TAIL_S = 0.3, 2.5  # quiet before the speech; open microphone after it
NOISE_SNR_DB = 15.0
CHUNK_S = 0.1
SLOW_S = 1.5  # a first reply later than this after the last word counts as "waited too long"
FRAME = int(0.01 * SAMPLE_RATE)


@dataclass
class Turn:
    name: str  # voice/kind/index
    text: str
    kind: str  # finished or paused
    noisy: bool
    samples: np.ndarray
    last_word_s: float  # where the clean speech's last voiced sample is, from the start of the audio
    pauses_s: tuple[tuple[float, float], ...] = ()  # each inner pause: where it begins (s from the start), how long


@dataclass
class Outcome:
    name: str
    kind: str
    noisy: bool
    mode: str
    cut_off: bool  # the gateway ended a turn before the last word
    answered: bool  # a turn holding the last word was ended and answered
    ended_by: str
    transcript_s: float | None  # last word -> final transcript event
    first_reply_s: float | None  # last word -> first bot reply
    decode_s: float | None  # the recogniser's time for the final transcript
    probability: float | None  # what the end-of-turn model said at the last pause
    transcript: str
    # every turn ended: (audio s, ended_by, Smart Turn's p, the transcript model's p, text)
    turns: list[tuple[float, str, float | None, float | None, str]]
    first_audio_s: float | None = None  # last word -> first spoken sentence (with --speak)


# -- speech ------------------------------------------------------------------------------------
def with_pauses(
    speech: np.ndarray, segments: list[str], voice: Voice, pauses: list[float]
) -> tuple[np.ndarray, list[int]]:
    """The speech of ``segments`` said as one sentence (commas between them), with ``pauses`` (s) of
    silence put in after each segment but the last, and where each pause begins (samples). Where a
    segment ends is found by speaking the sentence up to it (the voices are deterministic, so that
    part sounds the same), then taking the quietest 10 ms near that point: the comma's own gap
    where the voice made one."""
    frames = speech[: len(speech) // FRAME * FRAME].reshape(-1, FRAME)
    energy = np.mean(frames**2, axis=1)
    cuts = []
    for k in range(len(pauses)):
        expected = len(spoken(", ".join(segments[: k + 1]) + ",", voice)) // FRAME
        low, high = max(1, expected - 20), min(len(energy) - 1, expected + 20)
        cuts.append((low + int(np.argmin(energy[low:high]))) * FRAME + FRAME // 2)
    pieces, at, starts = [], 0, []
    for cut, pause in zip(cuts, pauses, strict=True):
        starts.append(sum(len(piece) for piece in pieces) + cut - at)
        pieces += [speech[at:cut], np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        at = cut
    pieces.append(speech[at:])
    return np.concatenate(pieces).astype(np.float32), starts


def spoken(text: str, voice: Voice) -> np.ndarray:
    key = hashlib.sha1(f"{voice.name}:{text}".encode()).hexdigest()[:12]
    path: Path = CACHE / "turn_taking" / f"{key}.wav"
    samples = load_file(synthesize(text, voice, path)).samples
    start, end = speech_bounds(samples, margin_s=0.0)
    return samples[start:end]


def turn(
    name: str,
    text: str,
    kind: str,
    speech: np.ndarray,
    noisy: bool,
    seed: int,
    pauses: list[tuple[int, float]] | None = None,
) -> Turn:
    """One turn of the set; ``pauses``: (first sample of each inner pause in ``speech``, its length s)."""
    lead, tail = np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), np.zeros(int(TAIL_S * SAMPLE_RATE), np.float32)
    clean = np.concatenate([lead, speech, tail])
    samples = reverb_and_noise(clean, np.random.default_rng(seed), NOISE_SNR_DB) if noisy else clean
    pauses_s = tuple(((len(lead) + at) / SAMPLE_RATE, length) for at, length in pauses or [])
    return Turn(name, text, kind, noisy, samples, (len(lead) + len(speech)) / SAMPLE_RATE, pauses_s)


def synthetic_turns(part: str) -> list[Turn]:
    texts = yaml.safe_load(DATA.read_text(encoding="utf-8"))[part]
    turns: list[Turn] = []
    jobs = [
        (voice, kind, i, text)
        for voice in VOICES[part]
        for kind in ("finished", "paused")
        for i, text in enumerate(texts[kind])
    ]
    for voice, kind, i, text in tqdm(jobs, desc=f"speaking the {part} turns", unit="turn"):
        seed = int(hashlib.sha1(f"{voice.name}:{text}".encode()).hexdigest()[:8], 16)
        segments = [part.strip() for part in text.split("|")]
        said = ", ".join(segments)
        speech, pauses = spoken(said, voice), []
        if kind == "paused":
            rng = np.random.default_rng(seed)
            lengths = [float(rng.uniform(*PAUSE_RANGE_S)) for _ in segments[1:]]
            speech, starts = with_pauses(speech, segments, voice, lengths)
            pauses = list(zip(starts, lengths, strict=True))
        noisy = len(turns) % 2 == 1
        turns.append(turn(f"{voice.name}/{kind}/{i}", said, kind, speech, noisy, seed, pauses))
    return turns


def real_turns() -> list[Turn]:
    """Real read sentences: whole (finished), and with a pause put in at the quietest 20 ms between
    40 % and 70 % of the speech (paused): there a person's voice really is in mid-sentence."""
    turns: list[Turn] = []
    for folder in REAL:
        for path in sorted((shared_data("speech", "real") / folder).rglob("*.wav")):
            samples = load_file(path).samples
            start, end = speech_bounds(samples, margin_s=0.0)
            if end - start < SAMPLE_RATE:
                continue
            speech = samples[start:end]
            rng = np.random.default_rng(len(turns))
            low, high = int(0.4 * len(speech)) // FRAME, int(0.7 * len(speech)) // FRAME
            energy = [float(np.mean(speech[i * FRAME : (i + 1) * FRAME] ** 2)) for i in range(low, high)]
            cut = (low + int(np.argmin(energy))) * FRAME
            length = float(rng.uniform(*PAUSE_RANGE_S))
            paused = np.concatenate([speech[:cut], np.zeros(int(length * SAMPLE_RATE), np.float32), speech[cut:]])
            for kind, audio, pauses in (("finished", speech, []), ("paused", paused, [(cut, length)])):
                noisy = len(turns) % 4 in (1, 2)  # each kind half clean, half noisy
                turns.append(turn(f"real/{folder}/{path.stem}/{kind}", "", kind, audio, noisy, len(turns), pauses))
    return turns


# -- through the gateway -----------------------------------------------------------------------
def stream_turn(url: str, item: Turn, mode: str, speak: bool = False) -> Outcome:
    """Stream one turn in real time on a new conversation; read what the gateway did with it."""
    from voice.client import VoiceClient, pcm16_chunks

    with VoiceClient(url, timeout=30, speak=speak) as client:
        chunks = list(pcm16_chunks(item.samples, CHUNK_S))
        started = time.perf_counter()
        last_word_at = started + item.last_word_s
        answered_at: float | None = None
        seen: list[tuple[str, Any, float]] = []  # (event, data, when) as the client received them
        for seq, chunk in enumerate(chunks):
            time.sleep(max(0.0, started + (seq + 1) * CHUNK_S - time.perf_counter()))  # recorded, then sent
            client.send_pcm(chunk, seq)
            if answered_at is not None and time.perf_counter() > answered_at + 0.3:
                break  # the turn holding the last word is answered: the shopper would stop here
            answered_at = answered_at or _answered(client, item, seen)
        if answered_at is None:  # the gateway never ended it: the client does, as a last resort
            client.sio.emit("user_audio_end", {"session_id": client.session_id})
            deadline = time.perf_counter() + 30
            while answered_at is None and time.perf_counter() < deadline:
                time.sleep(0.05)
                answered_at = _answered(client, item, seen)
        events = seen
    finals = [(at, data) for name, data, at in events if name == "transcript" and data.get("final")]
    heard, covering, cut_off = 0.0, None, False  # turns follow each other in the stream: their audio adds up
    for at, data in finals:
        heard += float(data.get("duration_s", 0))
        if heard >= item.last_word_s - 0.05:
            covering = (at, data)
            break
        cut_off = True  # a turn ended before the last word
    first_reply = first_audio = None
    if covering is not None:
        first_reply = next((at for name, _, at in events if name == "bot_uttered" and at >= covering[0]), None)
        first_audio = next((at for name, _, at in events if name == "bot_audio" and at >= covering[0]), None)
    return Outcome(
        item.name,
        item.kind,
        item.noisy,
        mode,
        cut_off,
        covering is not None and first_reply is not None,
        covering[1].get("ended_by", "?") if covering else "none",
        round(covering[0] - last_word_at, 3) if covering else None,
        round(first_reply - last_word_at, 3) if first_reply else None,
        covering[1].get("decode_s") if covering else None,
        covering[1].get("end_of_turn_p") if covering else None,
        covering[1].get("text", "") if covering else "",
        [
            (
                d.get("duration_s", 0),
                d.get("ended_by", "?"),
                d.get("end_of_turn_p"),
                d.get("end_of_turn_text_p"),
                d.get("text", ""),
            )
            for _, d in finals
        ],
        round(first_audio - last_word_at, 3) if first_audio else None,
    )


def _answered(client: Any, item: Turn, seen: list[tuple[str, Any, float]]) -> float | None:
    """When the turn holding the last word got its turn_end (or error), from the events so far."""
    while not client.events.empty():
        seen.append(client.events.get_nowait())
    heard, covered = 0.0, False
    for name, data, at in seen:
        if name == "transcript" and data.get("final"):
            heard += float(data.get("duration_s", 0))
            covered = heard >= item.last_word_s - 0.05
        elif covered and name in ("turn_end", "error"):
            return float(at)
    return None


def run_mode(mode: str, turns: list[Turn], env: dict[str, str], speak: bool = False) -> list[Outcome]:
    from bot.launcher import Services, free_port
    from voice.client import VoiceClient

    saved = dict(os.environ)
    os.environ.update({"SHOPKEEPER_END_OF_TURN": mode, **env})
    try:
        with Services(
            actions_port=free_port(), rasa_port=free_port(), gateway_port=free_port(), db=str(DEMO_DB)
        ) as svc:
            svc.start()
            with VoiceClient(svc.gateway_url, timeout=300) as client:  # waits for the recogniser; not counted
                client.say_audio(turns[0].samples[: int((turns[0].last_word_s + 0.3) * SAMPLE_RATE)], realtime=False)
            return [
                stream_turn(svc.gateway_url, item, mode, speak)
                for item in tqdm(turns, desc=f"turns, {mode}", unit="turn")
            ]
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- report ------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summary(rows: list[Outcome]) -> dict[str, Any]:
    finished = [r for r in rows if r.kind == "finished"]
    paused = [r for r in rows if r.kind == "paused"]
    # Latency over the turns answered whole (a cut-off turn's "reply" answers half a sentence).
    whole = [r for r in rows if r.first_reply_s is not None and r.transcript_s is not None and not r.cut_off]
    cut = sum(r.cut_off for r in paused)
    return {
        "turns": len(rows),
        "first_reply_p50": pct([r.first_reply_s for r in whole if r.first_reply_s is not None], 50),
        "first_reply_p95": pct([r.first_reply_s for r in whole if r.first_reply_s is not None], 95),
        "transcript_p50": pct([r.transcript_s for r in whole if r.transcript_s is not None], 50),
        "decode_p50": pct([r.decode_s for r in whole if r.decode_s is not None], 50),
        "bot_p50": pct([(r.first_reply_s or 0) - (r.transcript_s or 0) for r in whole], 50),
        "first_audio_p50": pct([r.first_audio_s for r in whole if r.first_audio_s is not None], 50),
        "first_audio_p95": pct([r.first_audio_s for r in whole if r.first_audio_s is not None], 95),
        "paused": len(paused),
        "paused_cut_off": cut,
        "paused_cut_off_ci": wilson(cut, len(paused)),
        "finished": len(finished),
        "finished_cut_off": sum(r.cut_off for r in finished),
        "slow": sum(1 for r in rows if r.first_reply_s is None or r.first_reply_s > SLOW_S),
        "unanswered": sum(not r.answered for r in rows),
    }


def report(part: str, results: dict[str, list[Outcome]], env: dict[str, str], minutes: float) -> str:
    lines = [
        f"# Turn-taking through the gateway ({part})",
        "",
        f"Command: `{command('benchmarks.turn_taking', *sys.argv[1:])}`  ",
        f"Machine: {machine()}. Took {minutes:.0f} min. Date: {time.strftime('%Y-%m-%d')}",
        "",
        "Each turn streamed in real time to the real gateway (Rasa, action server, Whisper base) as a "
        "hands-free microphone does, with no `user_audio_end`. Times from the last voiced sample of the "
        f"speech. Settings of `model`: {env or 'defaults'}. Inner pauses {PAUSE_RANGE_S[0]}-{PAUSE_RANGE_S[1]} s; "
        f"every second turn in a room with noise at {NOISE_SNR_DB:.0f} dB SNR.",
        "",
        "| end of turn | turns | first reply p50 s | p95 s | transcript p50 s | of which decoding p50 s "
        f"| transcript to reply p50 s | inner-pause turns cut off | finished turns cut off "
        f"| reply later than {SLOW_S} s or none |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, rows in results.items():
        s = summary(rows)
        low, high = s["paused_cut_off_ci"]
        cut = f"{s['paused_cut_off']}/{s['paused']} ({100 * low:.0f}-{100 * high:.0f} %)" if s["paused"] else "-"
        lines.append(
            f"| {mode} | {s['turns']} | {s['first_reply_p50']:.2f} | {s['first_reply_p95']:.2f} | "
            f"{s['transcript_p50']:.2f} | {s['decode_p50']:.2f} | {s['bot_p50']:.2f} | {cut} | "
            f"{s['finished_cut_off']}/{s['finished']} | {s['slow']}/{s['turns']} |"
        )
    spoken = {mode: summary(rows) for mode, rows in results.items() if any(r.first_audio_s for r in rows)}
    if spoken:
        lines += ["", "Spoken replies (`--speak`: the server's voice, flite), from the last voiced sample:", ""]
        lines += ["| end of turn | first text reply p50 / p95 s | first audio p50 / p95 s |", "|---|---|---|"]
        lines += [
            f"| {mode} | {s['first_reply_p50']:.2f} / {s['first_reply_p95']:.2f} | "
            f"{s['first_audio_p50']:.2f} / {s['first_audio_p95']:.2f} |"
            for mode, s in spoken.items()
        ]
    lines += ["", "By kind and noise (first reply p50 / p95 s, cut off):", ""]
    lines += [
        "| end of turn | kind | noisy | turns | first reply p50 | p95 | cut off | ended by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, rows in results.items():
        for kind in ("finished", "paused"):
            for noisy in (False, True):
                group = [r for r in rows if r.kind == kind and r.noisy == noisy]
                if not group:
                    continue
                replies = [r.first_reply_s for r in group if r.first_reply_s is not None and not r.cut_off]
                ended: dict[str, int] = {}
                for r in group:
                    ended[r.ended_by] = ended.get(r.ended_by, 0) + 1
                lines.append(
                    f"| {mode} | {kind} | {'yes' if noisy else 'no'} | {len(group)} | {pct(replies, 50):.2f} | "
                    f"{pct(replies, 95):.2f} | {sum(r.cut_off for r in group)} | "
                    + ", ".join(f"{k} {v}" for k, v in sorted(ended.items()))
                    + " |"
                )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("dev", "test", "test2", "test3", "real"), default="dev")
    parser.add_argument("--modes", default="silence,model")
    parser.add_argument("--threshold", type=float, help="SHOPKEEPER_TURN_THRESHOLD for the model gateway")
    parser.add_argument("--fallback", type=float, help="SHOPKEEPER_TURN_FALLBACK_S for the model gateway")
    parser.add_argument(
        "--unfinished-below", type=float, help="SHOPKEEPER_TURN_UNFINISHED_BELOW for the model gateway (long fallback)"
    )
    parser.add_argument("--limit", type=int, help="only the first N turns (a quick look)")
    parser.add_argument("--speak", action="store_true", help="ask for spoken replies and time the first audio")
    parser.add_argument("--out", type=Path, help="result file (default results/turn_taking_<part>.md)")
    args = parser.parse_args()
    env = {}
    if args.threshold is not None:
        env["SHOPKEEPER_TURN_THRESHOLD"] = str(args.threshold)
    if args.fallback is not None:
        env["SHOPKEEPER_TURN_FALLBACK_S"] = str(args.fallback)
    if args.unfinished_below is not None:
        env["SHOPKEEPER_TURN_UNFINISHED_BELOW"] = str(args.unfinished_below)
    turns = real_turns() if args.part == "real" else synthetic_turns(args.part)
    if args.limit:
        turns = turns[: args.limit]
    started = time.perf_counter()
    results = {
        mode: run_mode(mode, turns, env if mode == "model" else {}, args.speak) for mode in args.modes.split(",")
    }
    minutes = (time.perf_counter() - started) / 60
    out = args.out or RESULTS / f"turn_taking_{args.part}.md"
    # The rows first (one per line), so a report bug loses nothing.
    dump = ",\n".join(
        f"{json.dumps(mode)}: [\n" + ",\n".join(json.dumps(asdict(r)) for r in rows) + "\n]"
        for mode, rows in results.items()
    )
    write_result(out.with_suffix(".json"), "{\n" + dump + "\n}")
    text = report(args.part, results, env, minutes)
    write_result(out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
