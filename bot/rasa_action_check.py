"""Rasa's check of every action server response, with its JSON-schema validator built once.

Rasa 3.6 checks each response of the action server against a schema of all its event types
(``RemoteAction._validate_action_result``) through ``jsonschema.validate``, which first checks
the *schema* itself against the JSON-Schema meta-schema, on every call. Under load that was a
quarter of the Rasa process's CPU: 16 ms per action on one core, where checking the response
alone takes 0.5 ms (benchmarks/results/load.md). Here the response is checked against the same
schema, with the same error for a bad response, but the schema is checked only once.

Rasa imports this module with ``bot.rasa_tracker_store`` (endpoints.yml names that store), so
every Rasa server that the launcher starts has it.
"""

from __future__ import annotations

import functools
from typing import Any

from jsonschema import validators
from jsonschema.exceptions import best_match
from rasa.core.actions.action import RemoteAction


@functools.cache
def _validator() -> Any:
    schema = RemoteAction.action_response_format_spec()
    kind = validators.validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result``: True for a valid response; raises for a bad one."""
    error = best_match(_validator().iter_errors(result))
    if error is None:
        return True
    # Rasa's own message and exception, so that a bad action server reads the same as before.
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the "
        "Action endpoint is valid."
    )
    raise error


def install() -> None:
    RemoteAction._validate_action_result = validate_action_result
