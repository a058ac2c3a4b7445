"""Does the end-of-turn model hear a finished turn from an unfinished one? Smart Turn v3.2 alone.

    python -m benchmarks.end_of_turn

Each utterance is scored twice, as the gateway would ask at a pause: whole, and cut half-way (at
the quietest 20 ms between 40 % and 70 % of its speech, as if the speaker paused there), each with
0.2 s of silence after it. A good end-of-turn model says "finished" (p >= 0.5) to the first and
"not yet" to the second. Two sources:

- real speech in ``../shared/data/speech/real`` (LibriVox, SpeechBrain's samples, CMU ARCTIC;
  read sentences, some of them excerpts that stop mid-sentence);
- the finished shopping requests of ``data/turns.yml`` spoken by flite voices.

This is the model alone, before the gateway uses it (issue 22); it tells whether synthetic voices
can stand in for shoppers when the turn-taking is measured. Results: ``results/end_of_turn.md``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from benchmarks.common import CACHE, RESULTS, ROOT, command, machine, shared_data, write_result
from voice.audio import SAMPLE_RATE, load_file, speech_bounds
from voice.end_of_turn import TurnModel, model_path
from voice.speech_set import Voice, synthesize

TURNS = ROOT / "benchmarks" / "data" / "turns.yml"
REAL = ("librivox", "speechbrain_samples", "arctic")
FLITE_VOICES = ("slt", "rms", "awb", "kal16")
LISTEN_S = 0.2  # silence heard before the model is asked
FRAME = int(0.02 * SAMPLE_RATE)


def voiced(samples: np.ndarray) -> np.ndarray:
    start, end = speech_bounds(samples, margin_s=0.05)
    return samples[start:end]


def half_way(samples: np.ndarray) -> np.ndarray:
    """The speech up to its quietest frame between 40 % and 70 % of it: a pause inside the turn."""
    low, high = int(0.4 * len(samples)) // FRAME, int(0.7 * len(samples)) // FRAME
    energy = [float(np.mean(samples[i * FRAME : (i + 1) * FRAME] ** 2)) for i in range(low, high)]
    return samples[: (low + int(np.argmin(energy))) * FRAME]


def score(model: TurnModel, samples: np.ndarray) -> float:
    return model.complete(np.concatenate([samples, np.zeros(int(LISTEN_S * SAMPLE_RATE), dtype=np.float32)]))


def real_speech() -> list[tuple[str, np.ndarray]]:
    found = []
    for folder in REAL:
        for path in sorted((shared_data("speech", "real") / folder).rglob("*.wav")):
            speech = voiced(load_file(path).samples)
            if len(speech) >= SAMPLE_RATE:  # a cut of less than a second says nothing
                found.append((f"real/{folder}", speech))
    return found


def flite_speech() -> list[tuple[str, np.ndarray]]:
    texts = yaml.safe_load(TURNS.read_text(encoding="utf-8"))["finished"]
    found = []
    for voice in FLITE_VOICES:
        for text in texts:
            key = hashlib.sha1(f"{voice}:{text}".encode()).hexdigest()[:12]
            path: Path = CACHE / "turns" / f"{key}.wav"
            synthesize(text, Voice(f"flite-{voice}", "flite", voice, natural=True), path)
            found.append((f"flite {voice}", voiced(load_file(path).samples)))
    return found


def main() -> int:
    model = TurnModel(model_path())
    rows: dict[str, list[tuple[float, float]]] = {}
    calls = []
    for source, speech in tqdm(real_speech() + flite_speech(), desc="scoring", unit="utt"):
        started = time.perf_counter()
        whole = score(model, speech)
        calls.append(time.perf_counter() - started)
        rows.setdefault(source, []).append((whole, score(model, half_way(speech))))
    lines = [
        "# End of turn: does Smart Turn v3.2 hear a finished turn from one cut half-way?",
        "",
        f"Command: `{command('benchmarks.end_of_turn')}`  ",
        f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}",
        "",
        f"The model alone, asked {LISTEN_S} s into the silence after the whole utterance and after its first",
        "40-70 % (cut at the quietest 20 ms there). One call, features included, one thread: "
        f"{1000 * float(np.median(calls)):.0f} ms median.",
        "Real speech is read text (some LibriVox and SpeechBrain sample files are excerpts that stop",
        "mid-sentence, so 'whole' is not always finished).",
        "",
        "| source | utterances | whole: said finished (p ≥ 0.5) | cut: said not yet (p < 0.5) "
        "| mean p whole | mean p cut |",
        "|---|---|---|---|---|---|",
    ]
    for source, pairs in rows.items():
        whole = np.array([w for w, _ in pairs])
        cut = np.array([c for _, c in pairs])
        lines.append(
            f"| {source} | {len(pairs)} | {np.mean(whole >= 0.5):.0%} | {np.mean(cut < 0.5):.0%} "
            f"| {whole.mean():.2f} | {cut.mean():.2f} |"
        )
    text = "\n".join(lines)
    write_result(RESULTS / "end_of_turn.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
