"""Rasa's REST channel, except that a turn which fails is answered as failed.

Rasa 3.6's REST channel catches any error of a turn and answers HTTP 200 with the replies collected
so far. When saving the conversation fails at the end of a turn (the tracker store's database
restarting, say), the shopper then reads "Added 1 x ..." although the conversation never recorded
it: measured under load, a PostgreSQL restart left one cart without a product the bot had confirmed
(benchmarks/results/load.md). Here such a turn answers HTTP 500 with no replies; the gateway tells
the shopper "please say it again" (``bot_unavailable``), and the repeated turn runs on the
conversation as it was stored.

credentials.yml names this class; it serves the same URL (``/webhooks/rest/webhook``), body and
replies as Rasa's own channel (without its ``stream`` option, which nothing here uses).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

FAILED = {"error": "turn_failed", "message": "The turn could not be completed; send it again."}


class StrictRestInput(RestInput):
    """``rest`` in credentials.yml: Rasa's REST webhook, with HTTP 500 for a turn that failed."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            collector = CollectingOutputChannel()
            message = UserMessage(
                self._extract_message(request),
                collector,
                await self._extract_sender(request),
                input_channel=self._extract_input_channel(request),
                metadata=self.get_metadata(request),
            )
            try:
                await on_new_message(message)
            except Exception:  # noqa: BLE001 - any failure of the turn: logged, answered as failed
                logger.exception("A turn of conversation %s failed; its replies are withheld", message.sender_id)
                return response.json(FAILED, status=500)
            return response.json(collector.messages)

        return webhook
