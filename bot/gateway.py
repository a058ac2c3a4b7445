"""The gateway browsers and voice clients connect to: FastAPI + python-socketio on one port.

    python -m bot.gateway [--port 8000] [--rasa-url http://localhost:5005]

Socket.io speaks Rasa's socketio channel protocol (so rasa-webchat works unchanged) and adds
voice: audio chunks in, a transcript out, then the bot's replies. Text goes to Rasa's REST
webhook with metadata (modality, ASR confidence, language); replies come back in the format
Rasa's own socketio channel emits. This module wires the parts together:

- ``bot.speech``: the recogniser, loaded in the background, on one worker thread;
- ``bot.voice_turns``: each client's streamed utterance, partial transcripts, the end of speech;
- ``bot.socket_events``: the socket.io events; ``bot.rasa_client``: Rasa's REST webhook;
- ``bot.http_routes``: ``/api/transcribe`` and ``/health``; ``bot.web``: the chat widget;
- ``bot.agent_inbox``: ``/agent``, where the shop's staff take over handed-off conversations.

Events and endpoints are documented in the README ("Socket.io events").
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from bot import backends
from bot.agent_inbox import AgentInbox, add_agent_routes
from bot.http_routes import add_api_routes, add_outbox_route
from bot.origins import OriginPolicy
from bot.rasa_client import RasaClient
from bot.rate_limits import RateLimits
from bot.sessions import SessionIds, load_secret
from bot.settings import BotSettings
from bot.socket_events import SocketEvents
from bot.speech import SpeechService
from bot.upload_limit import UploadLimit
from bot.voice_turns import TurnPolicy, VoiceTurns
from bot.web import add_widget_routes
from voice.settings import VoiceSettings
from voice.tts import Speaker, SpeechOutputError

ROOMS_CHANNEL = "shopkeeper-socketio"
log = logging.getLogger("shopkeeper.gateway")


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway needs, from the layers' settings (read from the environment by default)."""

    bot: BotSettings = field(default_factory=BotSettings.from_env)
    voice: VoiceSettings = field(default_factory=VoiceSettings.from_env)
    db: Path | None = None  # the shop whose names bias speech (default: the catalogue settings)


def shared_rooms(redis_url: str) -> socketio.AsyncManager | None:
    """socket.io rooms shared by every gateway through Redis pub/sub (None: this process only).

    A reply is emitted to the conversation's room, so it reaches the shopper's socket whichever
    gateway holds it. python-socketio pickles these messages: the Redis must be the shop's own,
    private one (README, "Security")."""
    if not redis_url:
        return None
    backends.check_redis("SHOPKEEPER_GATEWAY_REDIS_URL", redis_url)
    return socketio.AsyncRedisManager(redis_url, channel=ROOMS_CHANNEL)


def reply_voice(voice: VoiceSettings) -> tuple[Speaker | None, str]:
    """The server's voice for spoken replies, or None and why not (clients that ask are told)."""
    if voice.tts_voice.lower() == "off":
        return None, "SHOPKEEPER_TTS_VOICE is off"
    try:
        return Speaker(voice.tts_voice), ""
    except (SpeechOutputError, OSError, subprocess.SubprocessError) as error:
        log.warning("spoken replies are off: %s", error)
        return None, str(error)


def create_app(config: GatewayConfig | None = None) -> tuple[FastAPI, socketio.AsyncServer, Any]:
    """(FastAPI app, socket.io server, the ASGI app serving both)."""
    config = config or GatewayConfig()
    voice = config.voice  # the speech model and the audio limits
    speech = SpeechService(voice, config.db)
    rasa = RasaClient(config.bot.rasa_url, config.bot.actions_url, config.bot.rasa_timeout_s, config.bot.rasa_token)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        speech.start()
        await rasa.open()
        yield
        await rasa.close()

    app = FastAPI(
        title="Shopkeeper gateway",
        lifespan=lifespan,
        description="Text and voice in front of the Shopkeeper Rasa bot. Socket.io events are described in the README.",
    )
    origins = OriginPolicy(config.bot.allowed_origins)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=shared_rooms(config.bot.gateway_redis_url),
        cors_allowed_origins=origins.for_socketio,
        max_http_buffer_size=voice.max_audio_bytes + 1024 * 1024,
    )
    turns = VoiceTurns(
        speech, max_bytes=voice.max_audio_bytes, max_seconds=voice.max_audio_s, policy=TurnPolicy.from_settings(voice)
    )
    ids = SessionIds(load_secret(config.bot.session_secret))
    limits = RateLimits(
        config.bot.session_messages_per_min,
        config.bot.client_messages_per_min,
        config.bot.session_audio_s_per_min,
        config.bot.client_audio_s_per_min,
    )
    inbox = AgentInbox(sio, rasa, config.db, config.bot.agent_token)
    speaker, speaker_error = reply_voice(voice)
    SocketEvents(
        sio,
        rasa,
        turns,
        asr_model=speech.model,
        ids=ids,
        limits=limits,
        held_by_agent=inbox.held_by_agent,
        speaker=speaker,
        speaker_error=speaker_error,
    )
    add_api_routes(app, speech, rasa, max_bytes=voice.max_audio_bytes, limits=limits)
    if origins.allowed:  # no CORS headers at all unless a shop lists other sites
        app.add_middleware(
            CORSMiddleware, allow_origins=sorted(origins.allowed), allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(UploadLimit, paths={"/api/transcribe"}, max_bytes=voice.max_audio_bytes)
    add_outbox_route(app, config.db)
    add_agent_routes(app, inbox)
    add_widget_routes(app)
    return app, sio, socketio.ASGIApp(sio, other_asgi_app=app)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    bot, voice = BotSettings.from_env(), VoiceSettings.from_env()
    parser = argparse.ArgumentParser(
        prog="python -m bot.gateway", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default=bot.gateway_host)
    parser.add_argument("--port", type=int, default=bot.gateway_port)
    parser.add_argument("--rasa-url", default=bot.rasa_url)
    parser.add_argument("--actions-url", default=bot.actions_url)
    parser.add_argument("--asr-model", default=voice.asr_model, help="tiny.en, base, or a SpeechBrain model folder")
    args = parser.parse_args(argv)
    config = GatewayConfig(
        bot=dataclasses.replace(
            bot, gateway_host=args.host, gateway_port=args.port, rasa_url=args.rasa_url, actions_url=args.actions_url
        ),
        voice=dataclasses.replace(voice, asr_model=args.asr_model),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        _, _, asgi = create_app(config)
    except backends.BackendError as exc:
        print(f"Cannot start the gateway: {exc}")
        return 2
    uvicorn.run(asgi, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
