"""Scores for intent classification and entity extraction, shared by the benchmark and tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Entity = dict[str, Any]  # Rasa's shape: entity, start, end, value


@dataclass
class IntentScores:
    accuracy: float
    macro_f1: float
    n: int


@dataclass
class EntityScores:
    strict_f1: float  # same label and exactly the same characters
    overlap_f1: float  # same label, spans overlap (annotators differ on "fifty [dollars]")
    value_accuracy: float  # of overlapping matches, how many carry the expected normalised value
    gold: int
    predicted: int


def intent_scores(gold: Sequence[str], predicted: Sequence[str]) -> IntentScores:
    """Accuracy and macro-F1 over the intents present in ``gold``."""
    labels = sorted(set(gold))
    f1s = []
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(1, len(gold))
    return IntentScores(accuracy, float(np.mean(f1s)) if f1s else 0.0, len(gold))


def _f1(matched: int, gold: int, predicted: int) -> float:
    return 2 * matched / (gold + predicted) if gold + predicted else 1.0


def entity_scores(gold: Sequence[list[Entity]], predicted: Sequence[list[Entity]]) -> EntityScores:
    strict = overlap = right_value = n_gold = n_pred = 0
    for gold_row, pred_row in zip(gold, predicted, strict=True):
        n_gold += len(gold_row)
        n_pred += len(pred_row)
        used: set[int] = set()
        for g in gold_row:
            for i, p in enumerate(pred_row):
                if i in used or p["entity"] != g["entity"]:
                    continue
                if p["start"] < g["end"] and g["start"] < p["end"]:
                    used.add(i)
                    overlap += 1
                    strict += p["start"] == g["start"] and p["end"] == g["end"]
                    right_value += str(p.get("value")).lower() == str(g.get("value")).lower()
                    break
    return EntityScores(
        _f1(strict, n_gold, n_pred),
        _f1(overlap, n_gold, n_pred),
        right_value / overlap if overlap else 0.0,
        n_gold,
        n_pred,
    )


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def confusion_png(gold: Sequence[str], predicted: Sequence[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix as a PNG (rows: true intent, columns: predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(gold) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)))
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g], index[p]] += 1
    matrix = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(6.0, len(labels) * 0.28)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j] and i != j:
                ax.text(j, i, f"{matrix[i, j]:.1f}", ha="center", va="center", fontsize=5, color="darkred")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
