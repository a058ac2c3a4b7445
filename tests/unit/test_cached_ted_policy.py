"""The TED policy the bot serves predicts once per dialogue state, and what it remembers is exactly
what TED computes: every turn of the test stories, replayed through the trained model, gets the
same probabilities from the remembered prediction as from running TED's graph again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.core.agent import Agent
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.training import load_data
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

from bot.cached_ted_policy import CachedTEDPolicy

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "shopkeeper.tar.gz"


def _served_policy(agent: Agent) -> CachedTEDPolicy:
    assert agent.processor is not None
    runner = agent.processor.graph_runner
    for node in runner._instantiated_nodes.values():
        if isinstance(node._component, CachedTEDPolicy):
            return node._component
    raise AssertionError(f"{MODEL} does not serve CachedTEDPolicy (config.yml)")


def _turns(domain: Domain) -> list[DialogueStateTracker]:
    """Every point in the test stories where the bot predicts an action."""
    stories = load_data(str(ROOT / "tests" / "stories"), domain, augmentation_factor=0)
    turns = []
    for story in stories:
        events: list = []
        for event in story.events:
            if isinstance(event, ActionExecuted) and events:
                turns.append(DialogueStateTracker.from_events(story.sender_id, list(events), domain.slots))
            events.append(event)
    return turns


@pytest.mark.slow  # loads the trained model (make train)
def test_remembered_predictions_are_the_ones_ted_computes() -> None:
    assert MODEL.exists(), f"no trained model at {MODEL}: run `make train`"
    agent = Agent.load(str(MODEL))
    policy = _served_policy(agent)
    domain = agent.domain
    assert domain is not None
    turns = _turns(domain)
    assert len(turns) > 100

    for tracker in turns:
        served = policy.predict_action_probabilities(tracker, domain)
        computed = TEDPolicy.predict_action_probabilities(policy, tracker, domain)
        np.testing.assert_array_equal(served.probabilities, computed.probabilities)

    # Stories share states, so many turns were answered from memory (each checked above).
    assert policy.hits > len(turns) // 4, (policy.hits, policy.misses)
    assert 0 < policy.misses < len(turns)


@pytest.mark.slow  # loads the trained model (make train)
def test_a_remembered_prediction_is_a_copy_the_ensemble_may_change() -> None:
    agent = Agent.load(str(MODEL))
    policy = _served_policy(agent)
    assert agent.domain is not None
    tracker = _turns(agent.domain)[0]
    first = policy.predict_action_probabilities(tracker, agent.domain)
    first.probabilities[:] = [0.0] * len(first.probabilities)  # as the ensemble zeroes a rejected action
    again = policy.predict_action_probabilities(tracker, agent.domain)
    assert max(again.probabilities) > 0
