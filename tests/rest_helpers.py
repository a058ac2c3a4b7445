"""Talking to a Rasa server over its REST webhook, as the end-to-end tests do."""

from __future__ import annotations

import re

import httpx


def rest_replies(rasa_url: str, sender: str, message: str) -> list[dict]:
    response = httpx.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=60)
    response.raise_for_status()
    return response.json()


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def say(rasa_url: str, sender: str, message: str) -> str:
    """One turn: the bot's replies as one text."""
    return texts(rest_replies(rasa_url, sender, message))


def listed_names(reply: str) -> list[str]:
    """Product names in a numbered result list ("1. Name - $12.99, ...")."""
    return re.findall(r"^\s*\d\. (.+?) - \$", reply, flags=re.M)
