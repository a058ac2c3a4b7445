"""NLU benchmark: the fine-tuned transformer vs Rasa's DIET pipeline, side by side.

    python -m benchmarks.nlu                      # all sets (about an hour on 2 cores)
    python -m benchmarks.nlu --sets bot,bitext    # only the bot's own data

Sets (see issue 3):
  bot      tests/nlu/dev.yml (or test.yml with --bot-set test), written apart from data/nlu/
  bitext   ../shared Bitext 2019 + 2020 releases, models trained on data/nlu/ only
  oos      ../shared CLINC150 out-of-scope test utterances sent to the bot's NLU
  clinc    CLINC150 train -> in-scope test (+ out-of-scope recall)
  banking  Banking77 train -> test
Both bot pipelines are trained with ``rasa train nlu`` machinery (Rasa's cache off, so the
training time is real) and queried through Rasa's own message processor. The public sets
train the same joint model directly (no Rasa in between) and add a TF-IDF + linear SVM line.
Writes benchmarks/results/nlu.md, nlu.json and confusion-matrix PNGs.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ["RASA_MAX_CACHE_SIZE"] = "0"  # measure real training, not Rasa's cache
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml
from tqdm import tqdm

from benchmarks.common import RESULTS, ROOT, command, machine, shared_data, write_result
from language.encoder import resolve_encoder
from nlu.joint_model import Example, JointModel, TrainingConfig, expected_calibration_error  # noqa: E402
from nlu.metrics import confusion_png, entity_scores, intent_scores, percentile

SHARED = shared_data("intents")
# The bot's own sets, written apart from data/nlu/: dev.yml was looked at while choosing data and
# settings; test.yml (frozen 2026-12-07) is reported once after the choices.
BOT_SETS = {"dev": ROOT / "tests" / "nlu" / "dev.yml", "test": ROOT / "tests" / "nlu" / "test.yml"}
FALLBACK_THRESHOLD = 0.4  # config.yml's FallbackClassifier threshold
PUBLISHED = {"clinc": "BERT 96.9, Rasa 91.5 (Larson et al. 2019)", "banking": "BERT ~93.0 (Casanueva et al. 2020)"}


# -- data -------------------------------------------------------------------------------
def shared_or_none(path: Path, name: str) -> Path | None:
    if path.exists():
        return path
    print(f"[skip] {name}: {path} not found (the ../shared data folder is absent).")
    return None


def bitext_rows() -> list[tuple[str, str]] | None:
    rows = []
    for name in ("bitext_2019_8175.csv", "bitext_2020_21534.csv"):
        path = shared_or_none(SHARED / "bitext" / name, f"Bitext {name}")
        if path is None:
            return None
        with path.open(encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                intent = "check_invoice" if row["intent"] == "check_invoices" else row["intent"]
                rows.append((row["utterance"], intent))
    return rows


def clinc() -> dict[str, list[tuple[str, str]]] | None:
    path = shared_or_none(SHARED / "clinc150" / "data_full.json", "CLINC150")
    return {k: [(t, i) for t, i in v] for k, v in json.loads(path.read_text()).items()} if path else None


def banking() -> dict[str, list[tuple[str, str]]] | None:
    folder = shared_or_none(SHARED / "banking77", "Banking77")
    if folder is None:
        return None
    out = {}
    for split in ("train", "test"):
        with (folder / f"{split}.csv").open(encoding="utf-8") as handle:
            out[split] = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return out


# -- the two bot pipelines, inside Rasa --------------------------------------------------
def pipeline_config(source: Path, target: Path) -> Path:
    """``source``'s NLU pipeline without the FallbackClassifier (thresholds are applied here)."""
    config = yaml.safe_load(source.read_text())
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "FallbackClassifier"]
    config.pop("policies", None)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


class RasaNLU:
    """A trained Rasa NLU model, queried one message at a time like the server does."""

    def __init__(self, name: str, archive: str, train_seconds: float = 0.0) -> None:
        from rasa.core.agent import Agent
        from rasa.utils.log_utils import configure_structlog

        # As `rasa run` does by default: without it every parse writes a debug line, costing ~1 ms.
        configure_structlog(logging.INFO)
        self.name = name
        self.train_seconds = train_seconds
        self.agent = Agent.load(archive)
        self.loop = asyncio.new_event_loop()

    @classmethod
    def trained(cls, name: str, config: Path, workdir: Path) -> RasaNLU:
        from rasa.model_training import train_nlu

        print(f"\n== training {name} with rasa ({config.name}) ==", flush=True)
        started = time.perf_counter()
        path = train_nlu(
            str(config),
            str(ROOT / "data" / "nlu"),
            str(workdir),
            fixed_model_name=name,
            domain=str(ROOT / "domain.yml"),
        )
        return cls(name, path, time.perf_counter() - started)

    def parse(self, texts: list[str], desc: str) -> tuple[list[dict[str, Any]], list[float]]:
        results, latencies = [], []
        for text in tqdm(texts, desc=f"{self.name}: {desc}", mininterval=2):
            started = time.perf_counter()
            results.append(self.loop.run_until_complete(self.agent.parse_message(text)))
            latencies.append((time.perf_counter() - started) * 1000)
        return results, latencies

    def parse_many(self, texts: list[str], desc: str, chunk: int = 64) -> list[dict[str, Any]]:
        """Same graph as ``parse``, fed many messages per call (every component processes lists)."""
        from rasa.core.channels.channel import UserMessage
        from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
        from rasa.shared.core.trackers import DialogueStateTracker

        processor = self.agent.processor
        target = processor.model_metadata.nlu_target
        tracker = DialogueStateTracker.from_events("benchmark", [])
        results = []
        for begin in tqdm(range(0, len(texts), chunk), desc=f"{self.name}: {desc}", mininterval=2):
            messages = [UserMessage(text) for text in texts[begin : begin + chunk]]
            parsed = processor.graph_runner.run(
                inputs={PLACEHOLDER_MESSAGE: messages, PLACEHOLDER_TRACKER: tracker}, targets=[target]
            )[target]
            results += [
                {"intent": {"name": None, "confidence": 0.0}, "entities": [], **m.as_dict(only_output_properties=True)}
                for m in parsed
            ]
        return results


def heldout(split: str = "dev") -> tuple[list[str], list[str], list[list[dict[str, Any]]]]:
    """Texts, intents and entities of the bot's own ``dev`` or ``test`` set."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(BOT_SETS[split])).intent_examples
    entities = [[{k: e[k] for k in ("entity", "start", "end", "value")} for e in m.get("entities") or []] for m in data]
    return [m.get("text") for m in data], [m.get("intent") for m in data], entities


def top(parse: dict[str, Any]) -> tuple[str, float]:
    intent = parse.get("intent") or {}
    return intent.get("name") or "", float(intent.get("confidence") or 0.0)


THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def caught_rate(tops: list[tuple[str, float]], threshold: float) -> float:
    """Share of parses the bot treats as off-topic: the out_of_scope intent or a confidence below threshold."""
    return float(np.mean([i == "out_of_scope" or c < threshold for i, c in tops]))


def bot_sets(sets: set[str], report: dict[str, Any], split: str = "dev") -> None:
    texts, gold, gold_entities = heldout(split)
    report["bot_set"] = str(BOT_SETS[split].relative_to(ROOT))
    bitext = bitext_rows() if "bitext" in sets else None
    clinc_data = clinc() if "oos" in sets else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        systems = {
            "transformer": pipeline_config(ROOT / "config.yml", work / "transformer.yml"),
            "diet": pipeline_config(ROOT / "benchmarks" / "configs" / "diet.yml", work / "diet.yml"),
        }
        for name, config in systems.items():
            nlu = RasaNLU.trained(name, config, work)
            entry: dict[str, Any] = {"train_seconds": round(nlu.train_seconds, 1)}
            parses, latencies = nlu.parse(texts, "held-out")
            batched = nlu.parse_many(texts, "held-out, batched")
            entry["batched_disagreements"] = sum(top(a)[0] != top(b)[0] for a, b in zip(batched, parses, strict=True))
            predicted = [top(p)[0] for p in parses]
            confidence = np.array([top(p)[1] for p in parses])
            correct = np.array([p == g for p, g in zip(predicted, gold, strict=True)])
            pred_entities = [
                [{k: e.get(k) for k in ("entity", "start", "end", "value")} for e in p["entities"]] for p in parses
            ]
            entry["bot"] = {
                **asdict(intent_scores(gold, predicted)),
                "entities": asdict(entity_scores(gold_entities, pred_entities)),
                "ece": expected_calibration_error(confidence, correct),
                # In-scope utterances the bot would answer with "please rephrase" (or treat as off-topic).
                "false_fallback": float(
                    np.mean(
                        [
                            (c < FALLBACK_THRESHOLD or p == "out_of_scope") and g != "out_of_scope"
                            for p, c, g in zip(predicted, confidence, gold, strict=True)
                        ]
                    )
                ),
            }
            # Latency: warm, one typical utterance at a time.
            entry["latency_ms"] = {"p50": percentile(latencies[5:], 50), "p95": percentile(latencies[5:], 95)}
            confusion_png(
                gold,
                predicted,
                RESULTS / f"nlu_confusion_bot_{name}.png",
                f"{name}: bot {split} set ({len(gold)} utterances)",
            )
            entry["bot_errors"] = [(t, g, p) for t, g, p in zip(texts, gold, predicted, strict=True) if g != p]
            in_scope = [top(p) for p, g in zip(parses, gold, strict=True) if g != "out_of_scope"]
            if bitext:
                parses = nlu.parse_many([t for t, _ in bitext], "bitext")
                entry["bitext"] = asdict(intent_scores([i for _, i in bitext], [top(p)[0] for p in parses]))
                in_scope += [top(p) for p in parses]
            if clinc_data:
                oos = [t for t, _ in clinc_data["oos_test"]]
                tops = [top(p) for p in nlu.parse_many(oos, "clinc oos")]
                entry["oos"] = {
                    "n": len(oos),
                    "as_out_of_scope": float(np.mean([i == "out_of_scope" for i, _ in tops])),
                    "caught": float(np.mean([i == "out_of_scope" or c < FALLBACK_THRESHOLD for i, c in tops])),
                    # The trade-off behind the fallback threshold: off-topic caught vs in-scope turned away.
                    "sweep": {
                        f"{t:.1f}": {"caught": caught_rate(tops, t), "in_scope_lost": caught_rate(in_scope, t)}
                        for t in THRESHOLDS
                    },
                    "n_in_scope": len(in_scope),
                }
            report[name] = entry
            del nlu


# -- public benchmarks, the joint model alone ---------------------------------------------
def svm_baseline(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> float:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.svm import LinearSVC

    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LinearSVC(C=1.0),
    )
    model.fit([t for t, _ in train], [i for _, i in train])
    return float(np.mean(model.predict([t for t, _ in test]) == np.array([i for _, i in test])))


def public_set(
    name: str,
    train: list[tuple[str, str]],
    valid: list[tuple[str, str]] | None,
    test: list[tuple[str, str]],
    config: TrainingConfig,
    oos_test: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    print(f"\n== {name}: {len(train)} train, {len(test)} test ==", flush=True)
    model = JointModel(resolve_encoder(""), config)
    report = model.fit([Example(t, i) for t, i in train], [Example(t, i) for t, i in valid] if valid else None)
    started = time.perf_counter()
    predictions = model.predict([t for t, _ in test])
    batch_seconds = time.perf_counter() - started
    gold = [i for _, i in test]
    predicted = [p.intent for p in predictions]
    confidence = np.array([p.confidence for p in predictions])
    entry: dict[str, Any] = {
        **asdict(intent_scores(gold, predicted)),
        "train_seconds": round(report.seconds, 1),
        "epochs_run": report.epochs_run,
        "best_epoch": report.best_epoch,
        "temperature": report.temperature,
        "ece_test": expected_calibration_error(
            confidence, np.array([p == g for p, g in zip(predicted, gold, strict=True)])
        ),
        "latency_ms": single_latency(model, test[:300]),
        "batch_ms_per_utterance": batch_seconds * 1000 / len(test),
        "svm_accuracy": svm_baseline(train, test),
    }
    if oos_test:
        oos = model.predict([t for t, _ in oos_test])
        entry["oos_recall_class"] = float(np.mean([p.intent == "oos" for p in oos]))
        entry["oos_recall_class_or_threshold"] = float(
            np.mean([p.intent == "oos" or p.confidence < FALLBACK_THRESHOLD for p in oos])
        )
        entry["in_scope_false_oos"] = float(
            np.mean([p.intent == "oos" or p.confidence < FALLBACK_THRESHOLD for p in predictions])
        )
    # The same model served with int8 linear layers, as the bot serves it (quantize: true).
    model.quantize()
    quantized = [p.intent for p in model.predict([t for t, _ in test])]
    entry["int8"] = {**asdict(intent_scores(gold, quantized)), "latency_ms": single_latency(model, test[:300])}
    print(json.dumps({k: v for k, v in entry.items()}, indent=1), flush=True)
    return entry


def single_latency(model: JointModel, rows: list[tuple[str, str]]) -> dict[str, float]:
    """p50/p95 of predicting one utterance at a time, as a live conversation does."""
    latencies = []
    for text, _ in rows:
        started = time.perf_counter()
        model.predict([text])
        latencies.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)}


# Only 4 epochs fit the 20-minute budget, so the head starts at the intents' mean vectors (imprint_head)
# and label smoothing keeps it from betting everything on one of two near-duplicate intents.
# CLINC150 at 4 epochs: plain 96.47, + label smoothing 96.49, + imprinted head 96.73.
PUBLIC_CONFIG = dict(
    learning_rate=1e-4,
    head_learning_rate=2e-3,
    batch_size=32,
    patience=0,
    freeze_embeddings=True,
    label_smoothing=0.1,
    imprint_head=True,
)
# Epochs that fit the 20-minute training budget on 2 cores (CLINC has 15k training utterances, Banking 9k).
PUBLIC_EPOCHS = {"clinc": 4, "banking": 4}


def public_sets(sets: set[str], report: dict[str, Any], epochs: int | None) -> None:
    def config(key: str, **extra: Any) -> TrainingConfig:
        return TrainingConfig(**{**PUBLIC_CONFIG, "epochs": epochs or PUBLIC_EPOCHS[key], **extra})

    if "clinc" in sets and (data := clinc()):
        report["clinc"] = public_set(
            "CLINC150",
            data["train"] + data["oos_train"],
            data["val"] + data["oos_val"],
            data["test"],
            config("clinc"),
            oos_test=data["oos_test"],
        )
    if "banking" in sets and (data := banking()):
        # Banking77 has no validation split; 10% of train is held out for early stopping and calibration.
        report["banking"] = public_set(
            "Banking77", data["train"], None, data["test"], config("banking", validation_fraction=0.1)
        )


# -- report ---------------------------------------------------------------------------------
def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    commands = report.get("commands", {})
    lines = [
        "# NLU benchmark",
        "",
        "Each section was produced by the command written under it.  ",
        f"Machine: {report['machine']}  ",
        f"Date: {report['date']}",
        "",
    ]
    if "transformer" in report and "diet" in report:
        t, d = report["transformer"], report["diet"]
        lines += [
            "## The bot's NLU: fine-tuned transformer vs Rasa DIET (same training data: data/nlu/)",
            "",
            f"Command: `{commands.get('bot', '?')}`",
            "",
            "| metric | transformer | DIET |",
            "|---|---|---|",
        ]

        def row(label: str, get: Any, fmt: Any = pct) -> None:
            try:
                lines.append(f"| {label} | {fmt(get(t))} | {fmt(get(d))} |")
            except KeyError:
                pass

        n_bot = t["bot"]["n"]
        row(f"1. held-out accuracy ({n_bot} utterances)", lambda e: e["bot"]["accuracy"])
        row("1. held-out macro-F1", lambda e: e["bot"]["macro_f1"])
        row("1. entity F1, exact span", lambda e: e["bot"]["entities"]["strict_f1"])
        row("1. entity F1, overlapping span", lambda e: e["bot"]["entities"]["overlap_f1"])
        row("1. entity value correct (normalised, of matched)", lambda e: e["bot"]["entities"]["value_accuracy"])
        row("1. expected calibration error (%)", lambda e: e["bot"]["ece"])
        row("1. in-scope sent to fallback/out_of_scope (%)", lambda e: e["bot"]["false_fallback"])
        if "bitext" in t:
            row(f"2. Bitext 2019+2020 accuracy ({t['bitext']['n']} utterances)", lambda e: e["bitext"]["accuracy"])
            row("2. Bitext macro-F1 (27 intents)", lambda e: e["bitext"]["macro_f1"])
        if "oos" in t:
            row(
                f"CLINC out-of-scope utterances → out_of_scope intent ({t['oos']['n']})",
                lambda e: e["oos"]["as_out_of_scope"],
            )
            row(
                f"CLINC out-of-scope caught (intent or confidence < {FALLBACK_THRESHOLD})", lambda e: e["oos"]["caught"]
            )
        row("training time (s, `rasa train nlu`, no cache)", lambda e: e["train_seconds"], lambda v: f"{v:.0f}")
        row("parse latency p50 (ms, whole Rasa NLU pipeline)", lambda e: e["latency_ms"]["p50"], lambda v: f"{v:.1f}")
        row("parse latency p95 (ms)", lambda e: e["latency_ms"]["p95"], lambda v: f"{v:.1f}")
        lines += ["", "Confusion matrices: `nlu_confusion_bot_transformer.png`, `nlu_confusion_bot_diet.png`.", ""]
        if "sweep" in t.get("oos", {}) and "sweep" in d.get("oos", {}):
            lines += [
                f"Fallback threshold trade-off: CLINC out-of-scope caught vs in-scope utterances turned away "
                f"(held-out + Bitext, {t['oos']['n_in_scope']}):",
                "",
                "| threshold | transformer caught | transformer in-scope lost | DIET caught | DIET in-scope lost |",
                "|---|---|---|---|---|",
            ]
            for key, a in t["oos"]["sweep"].items():
                b = d["oos"]["sweep"][key]
                lines.append(
                    f"| {key} | {pct(a['caught'])} | {pct(a['in_scope_lost'])} | {pct(b['caught'])} | "
                    f"{pct(b['in_scope_lost'])} |"
                )
            lines.append("")
        errors = t.get("bot_errors", [])
        if errors:
            lines += (
                ["Held-out utterances the transformer gets wrong:", "", "| text | true | predicted |", "|---|---|---|"]
                + [f"| {x} | {g} | {p} |" for x, g, p in errors]
                + [""]
            )
    for key, title in (("clinc", "CLINC150"), ("banking", "Banking77")):
        if key in report:
            e = report[key]
            lines += [
                f"## {title} (joint model trained directly, {e['epochs_run']} epochs)",
                "",
                f"Command: `{commands.get(key, '?')}`",
                "",
                "| metric | value |",
                "|---|---|",
                f"| accuracy ({e['n']} test utterances{', in-scope' if key == 'clinc' else ''}) | "
                f"{pct(e['accuracy'], 2)} |",  # two decimals: targets sit at x.5
                f"| macro-F1 | {pct(e['macro_f1'], 2)} |",
                f"| TF-IDF + linear SVM, same split | {pct(e['svm_accuracy'])} |",
                f"| published | {PUBLISHED[key]} |",
                f"| training time (s) | {e['train_seconds']:.0f} |",
                f"| expected calibration error on test (%), temperature {e['temperature']:.2f} | "
                f"{pct(e['ece_test'])} |",
                f"| latency p50 / p95 (ms, one utterance) | {e['latency_ms']['p50']:.1f} / "
                f"{e['latency_ms']['p95']:.1f} |",
            ]
            if "int8" in e:
                q = e["int8"]
                lines += [
                    f"| served int8 (quantize: true): accuracy / macro-F1 | {pct(q['accuracy'], 2)} / "
                    f"{pct(q['macro_f1'], 2)} |",
                    f"| served int8: latency p50 / p95 (ms) | {q['latency_ms']['p50']:.1f} / "
                    f"{q['latency_ms']['p95']:.1f} |",
                ]
            if key == "clinc":
                lines += [
                    f"| out-of-scope recall, oos class | {pct(e['oos_recall_class'])} |",
                    f"| out-of-scope recall, class or confidence < {FALLBACK_THRESHOLD} | "
                    f"{pct(e['oos_recall_class_or_threshold'])} |",
                    f"| in-scope test flagged out-of-scope by the same rule | {pct(e['in_scope_false_oos'])} |",
                ]
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="bot,bitext,oos,clinc,banking")
    parser.add_argument(
        "--public-epochs", type=int, default=None, help=f"epochs for CLINC150/Banking77 (default {PUBLIC_EPOCHS})"
    )
    parser.add_argument("--output", default=str(RESULTS / "nlu"))
    parser.add_argument("--bot-set", choices=tuple(BOT_SETS), default="dev", help="the bot's own set to score")
    args = parser.parse_args()
    sets = set(args.sets.split(","))
    output = Path(args.output)
    previous = json.loads(output.with_suffix(".json").read_text()) if output.with_suffix(".json").exists() else {}
    report: dict[str, Any] = {
        **previous,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    if sets & {"bot", "bitext", "oos"}:
        sets.add("bot")
        bot_sets(sets, report, args.bot_set)
    public_sets(sets, report, args.public_epochs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(report, indent=1))
    ran = command("benchmarks.nlu", *sys.argv[1:])
    report["commands"] = {
        **report.get("commands", {}),
        **{key: ran for key in sets if key in report and key in ("clinc", "banking")},
    }
    if "bot" in sets:
        report["commands"]["bot"] = ran
    write_result(output.with_suffix(".md"), markdown(report))


if __name__ == "__main__":
    main()
