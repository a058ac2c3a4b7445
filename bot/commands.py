"""Which Rasa commands (``/intent{"entity": "value"}``) a conversation may send.

Rasa takes a message that starts with ``/`` as an intent with entities, skipping the NLU, so typed
text could set any slot the domain has (an order number, a verified flag...). The gateway passes a
command on only when the bot offered it in that conversation as a button or quick reply, or when it
is a product card's button (which names a public product id and nothing else, so a card still works
after the gateway restarts). Anything else that starts with ``/`` reaches Rasa as plain words.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

# A product card's buttons: product_payload() in actions/cards.py.
CARD_COMMAND = re.compile(r'/(?:product_details|add_to_cart)\{"product_id": ?"[A-Za-z0-9_.-]{1,64}"\}')
MAX_SESSIONS = 10_000  # conversations remembered (least recently used forgotten first)
MAX_PER_SESSION = 200  # commands remembered per conversation


def offered_payloads(value: Any) -> list[str]:
    """Every ``payload`` string that is a command, anywhere in a Rasa reply (buttons, custom cards)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "payload" and isinstance(item, str) and item.startswith("/"):
                found.append(item)
            else:
                found.extend(offered_payloads(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(offered_payloads(item))
    return found


class OfferedCommands:
    """The commands the bot offered, per conversation, bounded in memory."""

    def __init__(self) -> None:
        self._offered: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def remember(self, session_id: str, replies: list[dict[str, Any]]) -> None:
        payloads = offered_payloads(replies)
        if not payloads:
            return
        commands = self._offered.pop(session_id, OrderedDict())
        for payload in payloads:
            commands.pop(payload, None)
            commands[payload] = None
        while len(commands) > MAX_PER_SESSION:
            commands.popitem(last=False)
        self._offered[session_id] = commands
        while len(self._offered) > MAX_SESSIONS:
            self._offered.popitem(last=False)

    def admit(self, session_id: str, text: str) -> str:
        """``text`` as Rasa should get it: an offered command as is, anything else without its slashes."""
        if not text.startswith("/"):
            return text
        if text in self._offered.get(session_id, ()) or CARD_COMMAND.fullmatch(text):
            return text
        return text.lstrip("/").strip()
