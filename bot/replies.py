"""Rasa REST replies → the messages Rasa's socket.io channel (and so rasa-webchat) expects.

The gateway talks to Rasa over its REST webhook, which answers with a list of dicts
(``text``, ``buttons``, ``image``, ``attachment``, ``custom``). Socket.io clients expect what
Rasa's own socketio channel would emit as ``bot_uttered``; this module does that translation so
existing clients work unchanged.
"""

from __future__ import annotations

from typing import Any


def _text_parts(text: str) -> list[str]:
    # Rasa's socketio channel sends paragraphs as separate bubbles.
    return [part for part in text.strip().split("\n\n") if part.strip()] or [text]


def to_socketio(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One REST reply → one or more ``bot_uttered`` payloads in rasa-webchat's format."""
    out: list[dict[str, Any]] = []
    if isinstance(message.get("custom"), dict):
        out.append(dict(message["custom"]))
    text = message.get("text")
    buttons = message.get("buttons") or message.get("quick_replies")
    if text and buttons:
        parts: list[dict[str, Any]] = [{"text": part} for part in _text_parts(text)]
        parts[-1]["quick_replies"] = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", "")} for b in buttons
        ]
        out.extend(parts)
    elif text:
        out.extend({"text": part} for part in _text_parts(text))
    if message.get("image"):
        out.append({"attachment": {"type": "image", "payload": {"src": message["image"]}}})
    if isinstance(message.get("attachment"), dict):
        out.append({"attachment": message["attachment"]})
    elif message.get("attachment"):
        out.append({"attachment": {"type": "file", "payload": {"src": message["attachment"]}}})
    return out
