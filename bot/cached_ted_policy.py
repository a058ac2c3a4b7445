"""Rasa's TEDPolicy, with its predictions remembered by dialogue state.

TED's prediction is a function of the dialogue state it featurizes: the last ``max_history``
turns as intents, entity names, slots that influence the conversation and actions. Shoppers
pass through the same states again and again (searched, added to the cart, asked for the cart),
yet TED ran its TensorFlow graph for every one: two or three times a turn, the largest share of
a Rasa server's CPU under load after the NLU (benchmarks/results/load.md). Here a state seen
before gets the probabilities computed the first time, which are the ones TED would compute
again. States are keyed exactly as TED builds them, so a conversation's answer never changes.

Only when TED reads the shopper's words themselves (an end-to-end model, trained on stories
with user text) does a state not determine the prediction; then nothing is remembered.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from typing import Any

from rasa.core.featurizers.precomputation import MessageContainerForCoreFeaturization
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

logger = logging.getLogger(__name__)

# Distinct dialogue states remembered; a state costs ~1 KB (its key and one probability per action).
REMEMBERED_STATES = 20_000
LOG_EVERY = 1000  # predictions between two log lines of how many were remembered


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITH_END_TO_END_SUPPORT, is_trainable=True)
class CachedTEDPolicy(TEDPolicy):
    """TEDPolicy that predicts once per distinct dialogue state (exactly TED's own predictions)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remembered: OrderedDict[str, tuple[list[float], Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _state_key(
        self, tracker: DialogueStateTracker, domain: Domain, rule_only_data: dict[str, Any] | None
    ) -> str | None:
        """The dialogue state TED featurizes, as text; None when TED also reads the user's words."""
        if self.only_e2e or TEXT in self.fake_features:
            return None
        # The same states (Policy._prediction_states) that TED's featurizer turns into its input.
        return json.dumps(self._prediction_states(tracker, domain, rule_only_data=rule_only_data), sort_keys=True)

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        precomputations: MessageContainerForCoreFeaturization | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        key = self._state_key(tracker, domain, rule_only_data) if self.model is not None else None
        remembered = self._remembered.get(key) if key is not None else None
        if key is not None and remembered is not None:
            self._remembered.move_to_end(key)
            self._count(hit=True)
            probabilities, diagnostic_data = remembered
            # A fresh list: the ensemble zeroes rejected actions in the prediction it picks.
            return self._prediction(list(probabilities), diagnostic_data=diagnostic_data)
        prediction = super().predict_action_probabilities(
            tracker, domain, rule_only_data=rule_only_data, precomputations=precomputations, **kwargs
        )
        self._count(hit=False)
        if key is not None and not prediction.is_end_to_end_prediction and not prediction.optional_events:
            self._remembered[key] = (list(prediction.probabilities), prediction.diagnostic_data)
            if len(self._remembered) > REMEMBERED_STATES:
                self._remembered.popitem(last=False)
        return prediction

    def _count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if (self.hits + self.misses) % LOG_EVERY == 0:
            logger.info(f"TED predictions: {self.hits} remembered, {self.misses} computed")
