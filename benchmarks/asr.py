"""Speech recognition benchmark: WER, real-time factor and load time on this machine.

    python -m benchmarks.asr                         # everything below
    python -m benchmarks.asr --parts wer --systems tiny.en,pocketsphinx
    python -m benchmarks.asr --parts latency         # voice turns through the real gateway + Rasa

Sets:
- TTS, Shopkeeper's own shopping sentences (voice/speech_set.py): the held-out natural voices
  (flite slt/rms/awb) scored against the target, a robotic espeak-ng voice reported apart, and the
  tuning part (other sentences, other voices) that chose the biasing settings.
- Real human speech from ../shared/data/speech/real (LibriVox, SpeechBrain samples, CMU ARCTIC,
  FSDD digits, pocketsphinx "cards"), clean and convolved with a room impulse response plus
  environmental noise at 20, 10 and 5 dB SNR (seeded pairing).
Systems: Whisper tiny.en and base through SpeechBrain, raw, with catalogue correction, with
verified catalogue biasing (voice/biasing.py), and with both (what the product runs); and
pocketsphinx's default English model. Results: benchmarks/results/asr.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import CACHE, DEMO_DB, RESULTS, ROOT, command, cpu_name, shared_data, write_result
from voice.audio import SAMPLE_RATE, load_file, resample, speech_bounds
from voice.wer import ErrorCount

SHARED = shared_data("speech")
SNRS = (20, 10, 5)


@dataclass
class Item:
    name: str
    text: str
    samples: np.ndarray
    group: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


# -- data --------------------------------------------------------------------------------------
def real_items() -> list[Item]:
    real = SHARED / "real"
    if not real.exists():
        raise SystemExit(f"{real} is missing: the real-speech sets need ../shared/data/speech")
    pairs: list[tuple[str, Path, str]] = []
    for wav in sorted((real / "librivox").glob("*.wav")):
        pairs.append(("librivox", wav, wav.with_suffix(".txt").read_text().strip()))
    for split in ("ASR_train.json", "ASR_dev.json"):
        for key, entry in json.loads((real / "speechbrain_samples" / split).read_text()).items():
            pairs.append(("speechbrain", real / "speechbrain_samples" / f"{key}.wav", entry["words"]))
    for line in (real / "cards" / "cards.transcription").read_text().splitlines():
        found = re.match(r"<s>(.*)</s>\s*\((\w+)\)", line.strip())
        if found:
            pairs.append(("cards", real / "cards" / f"{found.group(2)}.wav", found.group(1).strip()))
    # The two ARCTIC prompts are quoted in the data's SOURCE.md.
    quoted = dict(re.findall(r'(a\d{4}) "([^"]+)"', (SHARED / "SOURCE.md").read_text()))
    for wav in sorted((real / "arctic").glob("*.wav")):
        key = re.search(r"a\d{4}", wav.name)
        if key and key.group(0) in quoted:
            pairs.append(("arctic", wav, quoted[key.group(0)]))
    # First take of each digit by three of the six speakers: 30 files (each costs a full Whisper window).
    pairs += _fsdd(("george", "jackson", "theo"), ("0",))
    return [Item(p.name, text, load_file(p).samples, group) for group, p, text in pairs]


def real_tuning_items() -> list[Item]:
    """Real speech for tuning only, never scored against a target: two takes of each digit by the
    other three FSDD speakers. Short words are where a name bonus writes names nobody said."""
    pairs = _fsdd(("lucas", "nicolas", "yweweler"), ("0", "1"))
    return [Item(p.name, text, load_file(p).samples, "real tuning part (FSDD, other speakers)") for _, p, text in pairs]


def _fsdd(speakers: tuple[str, ...], takes: tuple[str, ...]) -> list[tuple[str, Path, str]]:
    """(group, file, text) of the spoken digits (file names are digit_speaker_take.wav)."""
    digits = "zero one two three four five six seven eight nine".split()
    out = []
    for wav in sorted((SHARED / "real" / "fsdd").glob("*.wav")):
        digit, speaker, take = wav.stem.split("_")
        if speaker in speakers and take in takes:
            out.append(("fsdd digits", wav, digits[int(digit)]))
    return out


def _read_mono(path: Path) -> np.ndarray:
    import soundfile

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return resample(data.mean(axis=1), rate)


@functools.cache
def augment_clips() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The room impulse responses and noise clips of ../shared/data/speech/augment, 16 kHz mono."""
    rirs = [_read_mono(p) for p in sorted((SHARED / "augment" / "rirs").glob("*.wav"))]
    noises = [_read_mono(p) for p in sorted((SHARED / "augment" / "noise").glob("*.wav"))]
    return rirs, noises


def reverb_and_noise(samples: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """``samples`` convolved with a room impulse response, plus a noise clip (looped) at ``snr_db``
    below the speech's power over the whole clip."""
    from scipy.signal import fftconvolve

    rirs, noises = augment_clips()
    rir = rirs[rng.integers(len(rirs))]
    rir = rir / (np.sqrt(np.sum(rir**2)) + 1e-9)
    wet = fftconvolve(samples, rir)[: len(samples)].astype(np.float32)
    noise = noises[rng.integers(len(noises))]
    noise = np.resize(noise, len(wet))  # loop short clips
    speech_power = np.mean(wet**2) + 1e-12
    noise_power = np.mean(noise**2) + 1e-12
    mixed = wet + noise * np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    peak = np.max(np.abs(mixed)) or 1.0
    return (mixed / max(1.0, peak)).astype(np.float32)


def noisy_items(clean: list[Item], snr_db: float, seed: int = 7) -> list[Item]:
    """Each utterance convolved with a room impulse response, plus a noise clip at ``snr_db``."""
    rng = np.random.default_rng(seed + int(snr_db))
    return [
        Item(item.name, item.text, reverb_and_noise(item.samples, rng, snr_db), f"real + room + noise {snr_db} dB")
        for item in clean
    ]


def tts_items(part: str) -> dict[str, list[Item]]:
    from voice.speech_set import build

    groups: dict[str, list[Item]] = {}
    for utt in build(CACHE / "speech_set", part):
        if part == "tune":
            group = "TTS tuning part (kal16, festival kal)"
        else:
            # Held out until 2026-12-07; choices were made looking at it since: the development part.
            group = "TTS held-out, natural voices" if utt.voice.natural else "TTS held-out, robotic espeak-ng"
        groups.setdefault(group, []).append(Item(utt.path.name, utt.text, load_file(utt.path).samples, group))
    return groups


def sweep_sets() -> dict[str, list[Item]]:
    """The sets the setting sweeps (asr_window.py, asr_biasing.py) score: TTS tuning and held-out,
    real clean, and real at 5 dB, where a setting's failures show first."""
    clean = real_items()
    return {
        **tts_items("tune"),
        **tts_items("test"),
        "real, clean": clean,
        "real + room + noise 5 dB": noisy_items(clean, 5),
    }


def sweep_row(label: str, recognizer: object, sets: dict[str, list[Item]]) -> str:
    """One row of a setting sweep: raw WER % per set, then the median decode time over all of them."""
    from tqdm import tqdm

    cells, times = [], []
    for group, items in sets.items():
        count = ErrorCount()
        for item in tqdm(items, desc=f"{label} {group}", leave=False, unit="utt"):
            transcript = recognizer.transcribe(item.samples)  # type: ignore[attr-defined]
            count.add(item.text, transcript.raw_text)
            times.append(transcript.decode_s)
        cells.append(f"{100 * count.wer:.1f}")
    row = f"| {label} | " + " | ".join(cells) + f" | {statistics.median(times):.3f} |"
    print(row, flush=True)
    return row


def write_sweep(out: Path, title: str, intro: str, column: str, sets: dict[str, list[Item]], rows: list[str]) -> None:
    """A sweep's result file: the title, how it was run, one column per set."""
    lines = [
        f"# {title}",
        "",
        intro,
        "",
        f"| {column} | " + " | ".join(sets) + " | decode p50 s |",
        "|---|" + "---|" * (len(sets) + 1),
        *rows,
    ]
    write_result(out, "\n".join(lines))


# -- systems -----------------------------------------------------------------------------------
@dataclass
class Result:
    system: str
    group: str
    count: ErrorCount = field(default_factory=ErrorCount)
    audio_s: float = 0.0
    decode_s: float = 0.0
    examples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rtf(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0


class Whisper:
    def __init__(self, size: str, corrector: object) -> None:
        from voice.asr import Recognizer

        # Correction is applied by evaluate(), so both the raw and corrected text come from one decode.
        self.recognizer = Recognizer(size, threads=2, corrector=corrector, bias=True)
        self.name = f"whisper {size}"

    def run(self, samples: np.ndarray, biased: bool = False) -> tuple[str, float]:
        transcript = self.recognizer.transcribe(samples, biased=biased)
        return transcript.raw_text, transcript.decode_s


class PocketSphinx:
    name = "pocketsphinx (default en-us)"

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def run(self, samples: np.ndarray, biased: bool = False) -> tuple[str, float]:
        started = time.perf_counter()
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return (hyp.hypstr if hyp else ""), time.perf_counter() - started


def cold_load_seconds(system: str) -> float:
    """Load time in a fresh process (imports included), as a server start would see it."""
    code = (
        "import time; t=time.perf_counter(); from voice.asr import Recognizer; "
        f"Recognizer({system!r}, threads=2); print(time.perf_counter()-t)"
    )
    if system == "pocketsphinx":
        code = (
            "import time; t=time.perf_counter(); from pocketsphinx import Decoder; "
            "Decoder(samprate=16000, loglevel='FATAL'); print(time.perf_counter()-t)"
        )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def evaluate(
    system: object, label: str, items: list[Item], biased: bool, corrector: object | None, progress: str
) -> tuple[Result, Result | None]:
    from tqdm import tqdm

    raw = Result(label, items[0].group)
    fixed = Result(label + " + correction", items[0].group) if corrector else None
    for item in tqdm(items, desc=progress, leave=False, unit="utt"):
        text, seconds = system.run(item.samples, biased)  # type: ignore[attr-defined]
        for result, hyp in ((raw, text), (fixed, corrector.correct(text)[0] if corrector else None)):  # type: ignore[attr-defined]
            if result is None or hyp is None:
                continue
            if result.count.add(item.text, hyp) and len(result.examples) < 4:
                result.examples.append((item.text, hyp))
            result.audio_s += item.seconds
            result.decode_s += seconds
    return raw, fixed


# -- voice turn latency ------------------------------------------------------------------------
def voice_turns(turns: int = 12) -> dict[str, float]:
    """End of audio → first bot reply, through the real gateway, Rasa and action servers; also
    from the end of the speech (what the shopper waits, the trailing pause included)."""
    from bot.launcher import Services, free_port
    from voice.client import VoiceClient
    from voice.speech_set import Voice, synthesize

    db = DEMO_DB
    texts = [
        "show me running shoes under one hundred dollars",
        "where is my order",
        "what's in my cart",
        "I want to return something",
        "do you have headphones",
        "how long does delivery take",
    ]
    voice = Voice("flite-slt", "flite", "slt", natural=True)
    samples, pauses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(texts):
            audio = load_file(synthesize(text, voice, Path(tmp) / f"{i}.wav")).samples
            pad = max(0, 3 * SAMPLE_RATE - len(audio))  # a 3-second utterance, trailing pause included
            samples.append(np.concatenate([audio, np.zeros(pad, np.float32)]))
            pauses.append((len(samples[-1]) - speech_bounds(samples[-1], margin_s=0.0)[1]) / SAMPLE_RATE)
    measured: dict[bool, tuple[list[float], list[float], list[float]]] = {False: ([], [], []), True: ([], [], [])}
    with Services(actions_port=free_port(), rasa_port=free_port(), gateway_port=free_port(), db=str(db)) as svc:
        svc.start()
        with VoiceClient(svc.gateway_url) as client:
            client.say_audio(samples[0], realtime=False)  # warm-up turn, not counted
            # Alternating with and without partial transcripts: what the widget's partials cost.
            for i in range(2 * turns):
                partials = i % 2 == 1
                which = (i // 2) % len(samples)
                result = client.say_audio(samples[which], realtime=True, partials=partials)
                if result.first_reply_s is not None:
                    measured[partials][0].append(result.first_reply_s)
                    measured[partials][1].append(result.transcript_s or 0.0)
                    measured[partials][2].append(result.first_reply_s + pauses[which])

    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    (first, transcript, spoken), (first_p, transcript_p, spoken_p) = measured[False], measured[True]
    return {
        "turns": len(first),
        "first_reply_p50": pct(first, 50),
        "first_reply_p95": pct(first, 95),
        "speech_end_p50": pct(spoken, 50),
        "speech_end_p95": pct(spoken, 95),
        "partials_speech_end_p50": pct(spoken_p, 50),
        "partials_speech_end_p95": pct(spoken_p, 95),
        "pause_s": float(np.mean(pauses)),
        "transcript_p50": pct(transcript, 50),
        "transcript_p95": pct(transcript, 95),
        "partials_first_reply_p50": pct(first_p, 50),
        "partials_first_reply_p95": pct(first_p, 95),
        "partials_transcript_p50": pct(transcript_p, 50),
        "partials_transcript_p95": pct(transcript_p, 95),
        "utterance_s": 3.0,
    }


# -- report ------------------------------------------------------------------------------------
def wer_and_speed(rows: list[Result], loads: dict[str, float]) -> list[str]:
    """The WER-by-set and speed tables."""
    lines: list[str] = []
    groups = list(dict.fromkeys(r.group for r in rows))
    systems = list(dict.fromkeys(r.system for r in rows))
    lines += ["## WER (%) by set", "", "| system | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for system in systems:
        cells = []
        for group in groups:
            found = [r for r in rows if r.system == system and r.group == group]
            cells.append(f"{100 * found[0].count.wer:.1f}" if found else "–")
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Words per set: "
        + ", ".join(
            f"{g}: {next(r.count.words for r in rows if r.group == g)} words / "
            f"{next(r.count.utterances for r in rows if r.group == g)} utterances"
            for g in groups
        ),
        "",
    ]
    lines += [
        "## Speed",
        "",
        "| system | RTF (all sets) | decode p50 per utterance s | cold load s |",
        "|---|---|---|---|",
    ]
    for system in systems:
        mine = [r for r in rows if r.system == system]
        audio = sum(r.audio_s for r in mine)
        decode = sum(r.decode_s for r in mine)
        per = statistics.median([r.decode_s / max(1, r.count.utterances) for r in mine])
        base = system.split(" + ")[0].split(" (")[0]
        load = loads.get(base.replace("whisper ", ""), loads.get(base, float("nan")))
        lines.append(f"| {system} | {decode / audio:.3f} | {per:.2f} | {load:.1f} |")
    return lines


def report(rows: list[Result], loads: dict[str, float], latency: dict[str, float] | None, minutes: float) -> str:
    lines = [
        "# Speech recognition benchmark",
        "",
        f"`{command('benchmarks.asr')}` on {cpu_name()}, {os.cpu_count()} cores, torch threads 2; "
        f"took {minutes:.0f} min. WER after normalisation (voice/wer.py: case, punctuation, numbers as "
        "digits). RTF = decode time / audio time, silence trimming included in decode.",
        "",
    ]
    if rows:  # none with --parts latency
        lines += wer_and_speed(rows, loads)
    if latency:
        lines += [
            "",
            "## Voice turn through the gateway",
            "",
            f"{latency['turns']} turns of a {latency['utterance_s']:.0f}-second utterance (flite slt, "
            "streamed in real time as PCM16 chunks) through `bot.gateway` → Rasa → action server, default model, "
            "measured from the end of the audio; as many again asking for partial transcripts (as the widget "
            "does), alternating. The audio ends with a pause (mean "
            f"{latency['pause_s']:.2f} s after the last voiced frame), during which the gateway already "
            "starts the final transcript; the last rows count from the end of the speech instead:",
            "",
            "| | p50 s | p95 s |",
            "|---|---|---|",
            f"| transcript event | {latency['transcript_p50']:.2f} | {latency['transcript_p95']:.2f} |",
            f"| first bot reply | {latency['first_reply_p50']:.2f} | {latency['first_reply_p95']:.2f} |",
            f"| transcript event, partials on | {latency['partials_transcript_p50']:.2f} | "
            f"{latency['partials_transcript_p95']:.2f} |",
            f"| first bot reply, partials on | {latency['partials_first_reply_p50']:.2f} | "
            f"{latency['partials_first_reply_p95']:.2f} |",
            f"| first bot reply, from the end of speech | {latency['speech_end_p50']:.2f} | "
            f"{latency['speech_end_p95']:.2f} |",
            f"| first bot reply, from the end of speech, partials on | "
            f"{latency['partials_speech_end_p50']:.2f} | {latency['partials_speech_end_p95']:.2f} |",
        ]
    lines += ["", "## Examples of errors", ""]
    for r in rows:
        for ref, hyp in r.examples[:2]:
            lines.append(f"- {r.system}, {r.group}: “{ref}” → “{hyp}”")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="wer,latency")
    parser.add_argument("--systems", default="tiny.en,base,pocketsphinx")
    parser.add_argument("--out", type=Path, default=RESULTS / "asr.md")
    args = parser.parse_args()
    started = time.time()
    parts = set(args.parts.split(","))
    from voice.vocabulary import ShopCorrector

    corrector = ShopCorrector(DEMO_DB)
    rows: list[Result] = []
    loads: dict[str, float] = {}
    if "wer" in parts:
        clean = real_items()
        tts = {**tts_items("test"), **tts_items("tune")}
        real = {"real, clean": [Item(i.name, i.text, i.samples, "real, clean") for i in clean]}
        for snr in SNRS:
            real[f"real + room + noise {snr} dB"] = noisy_items(clean, snr)
        for name in args.systems.split(","):
            loads[name] = cold_load_seconds(name)
            system: object = PocketSphinx() if name == "pocketsphinx" else Whisper(name, corrector)
            label = system.name  # type: ignore[attr-defined]
            for group, items in {**tts, **real}.items():
                whisper = name != "pocketsphinx"
                # Correction is text after the decode: the same pass gives Whisper's words and the corrected ones.
                raw, corrected = evaluate(
                    system, label, items, False, corrector if whisper else None, f"{label} {group}"
                )
                rows += [r for r in (raw, corrected) if r is not None]
                if whisper:  # verified catalogue biasing, then correction: what the product runs
                    biased, fixed = evaluate(
                        system, label + " + bias", items, True, corrector, f"{label} biased {group}"
                    )
                    rows += [r for r in (biased, fixed) if r is not None]
                print(f"{label:30s} {group:40s} WER {100 * raw.count.wer:5.1f}%  RTF {raw.rtf:.3f}", flush=True)
            del system
    latency = voice_turns() if "latency" in parts else None
    write_result(args.out, report(rows, loads, latency, (time.time() - started) / 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
