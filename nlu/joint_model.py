"""A transformer encoder fine-tuned jointly for intents and entity spans (JointBERT-style).

One forward pass gives both: the mean-pooled sentence vector feeds an intent head, every
sub-word vector feeds a BIO tag head. Nothing here knows about Rasa, so the same model is
trained inside ``rasa train`` (see ``nlu/transformer_classifier.py``) and on public
benchmarks (see ``benchmarks/nlu.py``).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm
from transformers import AutoModel, AutoTokenizer, PreTrainedModel
from transformers.utils import logging as transformers_logging

from nlu.spans import OUTSIDE, Span, TaggedPiece, decode_spans

# transformers 5 prints a load report per model (e.g. the unused position_ids buffer); keep logs quiet.
transformers_logging.set_verbosity_error()


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    spans: tuple[Span, ...] = ()


@dataclass
class Prediction:
    ranking: list[tuple[str, float]]  # every intent, most confident first; sums to 1
    spans: list[Span]

    @property
    def intent(self) -> str:
        return self.ranking[0][0]

    @property
    def confidence(self) -> float:
        return self.ranking[0][1]


@dataclass
class TrainingConfig:
    epochs: int = 20
    learning_rate: float = 1e-4
    # The freshly initialised heads learn faster than the pretrained encoder may move.
    head_learning_rate: float = 2e-3
    batch_size: int = 32
    max_length: int = 64
    seed: int = 42
    dropout: float = 0.1
    warmup_fraction: float = 0.06
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    # The word-embedding matrix is half of MiniLM's weights; freezing it trains ~10% faster on CPU.
    freeze_embeddings: bool = False
    entity_loss_weight: float = 1.0
    validation_fraction: float = 0.1
    # Stop when the validation score has not improved for this many epochs (0 = never stop early).
    patience: int = 4
    # Start the intent head at each intent's mean sentence vector ("imprinting") instead of at random:
    # one extra pass over the training data, worth it when only a few epochs fit the budget.
    imprint_head: bool = False
    calibrate: bool = True
    threads: int = 2


@dataclass
class TrainingReport:
    epochs_run: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    train_examples: int = 0
    validation_examples: int = 0
    validation_accuracy: float = 0.0
    temperature: float = 1.0
    ece_before: float | None = None
    ece_after: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Average gap between confidence and accuracy over equal-width confidence bins."""
    if len(confidences) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (confidences > low) & (confidences <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidences[in_bin].mean())
    return float(error)


def stratified_split(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out ``fraction`` of each intent; intents with fewer than 4 examples stay in training."""
    if fraction <= 0:
        return list(examples), []
    by_intent: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_intent[example.intent].append(example)
    rng = random.Random(seed)
    train: list[Example] = []
    held: list[Example] = []
    for intent in sorted(by_intent):
        group = list(by_intent[intent])
        rng.shuffle(group)
        cut = int(round(len(group) * fraction)) if len(group) >= 4 else 0
        held.extend(group[:cut])
        train.extend(group[cut:])
    return train, held


class JointNetwork(nn.Module):
    def __init__(self, encoder: PreTrainedModel, intents: int, tags: int, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.intent_head: nn.Module = nn.Linear(hidden, intents)  # nn.Identity() while imprinting
        self.tag_head = nn.Linear(hidden, tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        # Mean pooling: the sentence vector all-MiniLM-L6-v2 was pretrained to produce.
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.intent_head(self.dropout(pooled)), self.tag_head(self.dropout(tokens))


@dataclass
class _Encoded:
    input_ids: list[int]
    offsets: list[tuple[int, int]]
    intent: int
    tags: list[int]


class JointModel:
    """Fine-tunes and serves a :class:`JointNetwork`; save/load keep everything in one folder."""

    def __init__(self, encoder_path: str, config: TrainingConfig | None = None) -> None:
        self.encoder_path = encoder_path
        self.config = config or TrainingConfig()
        self.tokenizer = AutoTokenizer.from_pretrained(encoder_path)
        self.intents: list[str] = []
        self.tags: list[str] = [OUTSIDE]
        self.temperature = 1.0
        self.network: JointNetwork | None = None

    # -- data ----------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        if not texts:
            return [], []
        batch = self.tokenizer(
            list(texts), truncation=True, max_length=self.config.max_length, return_offsets_mapping=True
        )
        return batch["input_ids"], [[tuple(o) for o in offsets] for offsets in batch["offset_mapping"]]

    def _tag_ids(self, offsets: list[tuple[int, int]], spans: Iterable[Span]) -> list[int]:
        tags = []
        started: set[Span] = set()
        for start, end in offsets:
            if end <= start:  # special tokens ([CLS], [SEP]) are not scored
                tags.append(-100)
                continue
            label = OUTSIDE
            for span in spans:
                if span.start <= start < span.end:
                    label = ("I-" if span in started else "B-") + span.label
                    started.add(span)
                    break
            tags.append(self.tags.index(label))
        return tags

    def _prepare(self, examples: Sequence[Example]) -> list[_Encoded]:
        ids, offsets = self._encode([e.text for e in examples])
        index = {name: i for i, name in enumerate(self.intents)}
        rows = zip(examples, ids, offsets, strict=True)
        return [_Encoded(i, o, index[e.intent], self._tag_ids(o, e.spans)) for e, i, o in rows]

    def _batches(self, data: list[_Encoded], shuffle: bool, rng: random.Random) -> list[list[_Encoded]]:
        size = self.config.batch_size
        order = list(range(len(data)))
        if shuffle:
            rng.shuffle(order)
        # Sort within large chunks so a batch holds similar lengths (less padding, faster on CPU).
        chunk = size * 50
        batches = []
        for begin in range(0, len(order), chunk):
            part = sorted(order[begin : begin + chunk], key=lambda i: len(data[i].input_ids))
            batches += [[data[i] for i in part[b : b + size]] for b in range(0, len(part), size)]
        if shuffle:
            rng.shuffle(batches)
        return batches

    def _tensors(self, batch: list[_Encoded]) -> tuple[torch.Tensor, ...]:
        width = max(len(item.input_ids) for item in batch)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        tags = torch.full((len(batch), width), -100, dtype=torch.long)
        for row, item in enumerate(batch):
            n = len(item.input_ids)
            ids[row, :n] = torch.tensor(item.input_ids)
            mask[row, :n] = 1
            if item.tags:
                tags[row, :n] = torch.tensor(item.tags)
        intents = torch.tensor([item.intent for item in batch], dtype=torch.long)
        return ids, mask, intents, tags

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        examples: Sequence[Example],
        validation: Sequence[Example] | None = None,
        progress: bool = True,
    ) -> TrainingReport:
        cfg = self.config
        if not examples:
            raise ValueError("No training examples.")
        started = time.perf_counter()
        torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        if validation is None:
            examples, validation = stratified_split(examples, cfg.validation_fraction, cfg.seed)
        self.intents = sorted({e.intent for e in examples} | {e.intent for e in validation})
        labels = sorted({s.label for e in [*examples, *validation] for s in e.spans})
        self.tags = [OUTSIDE] + [f"{p}-{label}" for label in labels for p in ("B", "I")]

        train_data = self._prepare(examples)
        valid_data = self._prepare(validation)
        encoder = AutoModel.from_pretrained(self.encoder_path)
        self.network = JointNetwork(encoder, len(self.intents), len(self.tags), cfg.dropout)
        net = self.network
        if cfg.freeze_embeddings:
            net.encoder.get_input_embeddings().weight.requires_grad_(False)
        if cfg.imprint_head:
            self._imprint(train_data)

        heads = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
        trainable = [(n, p) for n, p in net.encoder.named_parameters() if p.requires_grad]
        decay = [p for n, p in trainable if not any(k in n for k in ("bias", "LayerNorm"))]
        no_decay = [p for n, p in trainable if any(k in n for k in ("bias", "LayerNorm"))]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "lr": cfg.learning_rate, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "lr": cfg.learning_rate, "weight_decay": 0.0},
                {"params": heads, "lr": cfg.head_learning_rate, "weight_decay": 0.0},
            ],
            # One fused kernel for all parameters: the update costs 25 ms a step instead of 60 on 2 cores.
            fused=True,
        )
        steps_per_epoch = math.ceil(len(train_data) / cfg.batch_size)
        total = max(1, steps_per_epoch * cfg.epochs)
        warmup = int(total * cfg.warmup_fraction)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        intent_loss = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        tag_loss = nn.CrossEntropyLoss(ignore_index=-100)
        rng = random.Random(cfg.seed)
        report = TrainingReport(train_examples=len(train_data), validation_examples=len(valid_data))
        best_score, best_state, stale = -1.0, None, 0

        for epoch in range(1, cfg.epochs + 1):
            net.train()
            batches = self._batches(train_data, shuffle=True, rng=rng)
            bar = tqdm(batches, desc=f"NLU epoch {epoch}/{cfg.epochs}", disable=not progress, leave=False)
            running = 0.0
            for step, batch in enumerate(bar, 1):
                ids, mask, intents, tags = self._tensors(batch)
                intent_logits, tag_logits = net(ids, mask)
                loss = intent_loss(intent_logits, intents)
                if len(self.tags) > 1:
                    loss = loss + cfg.entity_loss_weight * tag_loss(tag_logits.flatten(0, 1), tags.flatten())
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                running += loss.item()
                bar.set_postfix(loss=f"{running / step:.4f}")
            record = {"epoch": epoch, "loss": running / max(1, len(batches))}
            score: float | None = -record["loss"]  # no validation data: the lowest training loss is best
            if valid_data:
                # With no early stopping the last epoch is kept, so only that one needs validating.
                score = None
                if cfg.patience or epoch == cfg.epochs:
                    accuracy, tag_f1 = self._validate(valid_data)
                    record.update(val_accuracy=accuracy, val_tag_f1=tag_f1)
                    score = accuracy + (tag_f1 if len(self.tags) > 1 else 0.0)
            report.history.append(record)
            if progress:
                summary = ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch")
                tqdm.write(f"NLU epoch {epoch}/{cfg.epochs}: {summary}")
            report.epochs_run = epoch
            if score is None:
                continue
            if score > best_score + 1e-6:
                best_score, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
                report.best_epoch = epoch
            else:
                stale += 1
                if cfg.patience and stale >= cfg.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        if valid_data:
            # The kept weights were validated in their epoch; no need to run the validation set again.
            kept = report.history[report.best_epoch - 1] if report.best_epoch else {}
            report.validation_accuracy = kept.get("val_accuracy") or self._validate(valid_data)[0]
            if cfg.calibrate:
                self._calibrate(valid_data, report)
        report.seconds = time.perf_counter() - started
        return report

    def _imprint(self, data: list[_Encoded]) -> None:
        """Set each intent's head row to the direction of its examples' mean pooled vector."""
        assert self.network is not None
        head = self.network.intent_head
        assert isinstance(head, nn.Linear)
        self.network.intent_head = nn.Identity()  # _logits now returns the pooled sentence vectors
        try:
            pooled, _ = self._logits(data)
        finally:
            self.network.intent_head = head
        gold = torch.tensor([item.intent for item in data])
        sums = torch.zeros(head.out_features, pooled.shape[1]).index_add_(0, gold, pooled)
        centroids = nn.functional.normalize(sums, dim=-1)
        # Scaled so logits start as ~10 x cosine similarity: confident, but still easy to move.
        scale = 10.0 / pooled.norm(dim=-1).mean().clamp(min=1e-6)
        with torch.no_grad():
            head.weight.copy_(centroids * scale)
            head.bias.zero_()

    def _logits(self, data: list[_Encoded]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        assert self.network is not None
        if self.network.training:  # eval() walks every submodule: ~3 ms, so only when needed
            self.network.eval()
        # Batches of similar length waste little on padding; results go back to the input order.
        order = sorted(range(len(data)), key=lambda i: len(data[i].input_ids))
        intent_rows: list[torch.Tensor] = []
        tag_rows: list[torch.Tensor] = [torch.empty(0)] * len(data)
        with torch.inference_mode():
            for begin in range(0, len(order), 64):
                indices = order[begin : begin + 64]
                batch = [data[i] for i in indices]
                ids, mask, _, _ = self._tensors(batch)
                intent_logits, tag_logits = self.network(ids, mask)
                intent_rows.append(intent_logits)
                for row, (i, item) in enumerate(zip(indices, batch, strict=True)):
                    tag_rows[i] = tag_logits[row, : len(item.input_ids)]
        intents = torch.cat(intent_rows) if intent_rows else torch.empty(0, len(self.intents))
        return intents[torch.argsort(torch.tensor(order))] if order else intents, tag_rows

    def _validate(self, data: list[_Encoded]) -> tuple[float, float]:
        intent_logits, tag_logits = self._logits(data)
        gold = torch.tensor([item.intent for item in data])
        accuracy = (intent_logits.argmax(-1) == gold).float().mean().item()
        tp = fp = fn = 0
        for item, logits in zip(data, tag_logits, strict=True):
            for predicted, true in zip(logits.argmax(-1).tolist(), item.tags, strict=True):
                if true == -100:
                    continue
                tp += predicted == true != 0
                fp += predicted != 0 and predicted != true
                fn += true != 0 and predicted != true
        tag_f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        return accuracy, tag_f1

    def _calibrate(self, data: list[_Encoded], report: TrainingReport) -> None:
        """Temperature scaling (Guo et al. 2017): one scalar that makes confidences honest."""
        logits, _ = self._logits(data)
        gold = torch.tensor([item.intent for item in data])
        correct = (logits.argmax(-1) == gold).numpy()
        report.ece_before = expected_calibration_error(logits.softmax(-1).max(-1).values.numpy(), correct)
        log_t = torch.zeros(1, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(logits / log_t.exp(), gold)
            loss.backward()
            return loss

        optimizer.step(closure)
        temperature = float(log_t.detach().exp().clamp(0.05, 20.0))
        after = expected_calibration_error((logits / temperature).softmax(-1).max(-1).values.numpy(), correct)
        # Keep the temperature only when it really makes the confidences more honest.
        if after < report.ece_before:
            self.temperature = temperature
        report.temperature = self.temperature
        report.ece_after = after if after < report.ece_before else report.ece_before

    # -- inference -----------------------------------------------------------------------
    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self.network is None:
            raise RuntimeError("The model is not trained or loaded.")
        ids, offsets = self._encode([t if t.strip() else "" for t in texts])
        data = [_Encoded(i, o, 0, []) for i, o in zip(ids, offsets, strict=True)]
        intent_logits, tag_logits = self._logits(data)
        probabilities = (intent_logits / self.temperature).softmax(-1)
        predictions = []
        for text, item, probs, tag_row in zip(texts, data, probabilities, tag_logits, strict=True):
            values = probs.tolist()
            ranking = sorted(zip(self.intents, values, strict=True), key=lambda pair: -pair[1])
            predictions.append(Prediction(ranking, self._spans(text, item.offsets, tag_row.softmax(-1))))
        return predictions

    def _spans(self, text: str, offsets: list[tuple[int, int]], tag_probs: torch.Tensor) -> list[Span]:
        best = tag_probs.max(-1)
        tags = [self.tags[i] for i in best.indices.tolist()]
        pieces = (
            TaggedPiece(start, end, tag, confidence)
            for (start, end), tag, confidence in zip(offsets, tags, best.values.tolist(), strict=True)
        )
        return decode_spans(text, pieces)

    # -- persistence ---------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        assert self.network is not None
        folder.mkdir(parents=True, exist_ok=True)
        self.network.encoder.save_pretrained(folder / "encoder")
        self.tokenizer.save_pretrained(folder / "encoder")
        heads = {k: v for k, v in self.network.state_dict().items() if not k.startswith("encoder.")}
        torch.save(heads, folder / "heads.pt")
        meta = {
            "intents": self.intents,
            "tags": self.tags,
            "temperature": self.temperature,
            "config": asdict(self.config),
        }
        (folder / "meta.json").write_text(json.dumps(meta, indent=1))

    def quantize(self) -> None:
        """Store the encoder's linear layers as int8 (dynamic quantisation) for faster CPU inference.

        Inference only: the measured cost in accuracy is in benchmarks/results/nlu.md.
        """
        assert self.network is not None
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, which the pinned stack lacks.
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            self.network.encoder = quantize_dynamic(self.network.encoder, {torch.nn.Linear}, dtype=torch.qint8)
        self.network.eval()

    @classmethod
    def load(cls, folder: Path, threads: int | None = None, quantize: bool = False) -> JointModel:
        meta = json.loads((folder / "meta.json").read_text())
        config = TrainingConfig(**meta["config"])
        if threads:
            config.threads = threads
        torch.set_num_threads(config.threads)
        model = cls(str(folder / "encoder"), config)
        model.intents, model.tags, model.temperature = meta["intents"], meta["tags"], meta["temperature"]
        encoder = AutoModel.from_pretrained(str(folder / "encoder"))
        model.network = JointNetwork(encoder, len(model.intents), len(model.tags), config.dropout)
        # The encoder came from its own folder above; heads.pt holds only the two heads.
        missing, unexpected = model.network.load_state_dict(torch.load(folder / "heads.pt"), strict=False)
        if unexpected or any(not key.startswith("encoder.") for key in missing):
            raise ValueError(f"{folder / 'heads.pt'} does not match the model: {missing or unexpected}")
        model.network.eval()
        if quantize:
            model.quantize()
        return model
