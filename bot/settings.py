"""Settings of the processes the bot starts and of the gateway: ports, addresses, timeouts.

Read from the environment when they are needed (``BotSettings.from_env()``), not at import; the
launcher and the gateway's command line pass values down explicitly. The speech model and the shop
database are the voice and catalogue layers' own settings (``voice.settings``, ``catalog.settings``).
Every variable is listed in the README's settings table (``tests/unit/test_settings.py`` checks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BotSettings:
    gateway_host: str = "0.0.0.0"  # SHOPKEEPER_GATEWAY_HOST: the interface the gateway (the one public door) listens on
    internal_host: str = "127.0.0.1"  # SHOPKEEPER_INTERNAL_HOST: where Rasa and the action server listen
    rasa_token: str = ""  # SHOPKEEPER_RASA_TOKEN: turns Rasa's HTTP API on, behind this token (off when empty)
    agent_token: str = ""  # SHOPKEEPER_AGENT_TOKEN: the staff's inbox at /agent, behind this token (off when empty)
    gateway_port: int = 8000  # SHOPKEEPER_GATEWAY_PORT
    rasa_port: int = 5005  # SHOPKEEPER_RASA_PORT
    actions_port: int = 5055  # SHOPKEEPER_ACTIONS_PORT
    rasa_url: str = ""  # SHOPKEEPER_RASA_URL: a Rasa server elsewhere (default: localhost on rasa_port)
    actions_url: str = ""  # SHOPKEEPER_ACTIONS_URL: the action server (default: localhost on actions_port)
    rasa_timeout_s: float = 60.0  # how long the gateway waits for Rasa's replies to one turn
    session_secret: str = ""  # SHOPKEEPER_SESSION_SECRET: signs session ids (default: made once in var/)
    # Web pages on other origins that may use the gateway (the widget embedded on a shop's site).
    allowed_origins: tuple[str, ...] = ()  # SHOPKEEPER_ALLOWED_ORIGINS: comma-separated; the gateway's own pages always
    session_messages_per_min: float = 30  # SHOPKEEPER_SESSION_MESSAGES_PER_MIN
    client_messages_per_min: float = 120  # SHOPKEEPER_CLIENT_MESSAGES_PER_MIN: one address, all its conversations
    session_audio_s_per_min: float = 90  # SHOPKEEPER_SESSION_AUDIO_S_PER_MIN: seconds of audio
    client_audio_s_per_min: float = 360  # SHOPKEEPER_CLIENT_AUDIO_S_PER_MIN
    # Where Rasa keeps conversations (bot/backends.py); empty: a SQLite file beside the shop database.
    tracker_url: str = ""  # SHOPKEEPER_TRACKER_URL: sqlite:///file, postgresql://... or redis://...
    lock_url: str = ""  # SHOPKEEPER_LOCK_URL: redis://... so several Rasa servers never race on one conversation
    event_broker_url: str = ""  # SHOPKEEPER_EVENT_BROKER_URL: amqp://... publishes every conversation event
    # Gateways of one shop share socket.io rooms through Redis, so a reply reaches the shopper on any of them.
    gateway_redis_url: str = ""  # SHOPKEEPER_GATEWAY_REDIS_URL: redis://host:6379/2 (empty: one gateway)
    tracker_retention_days: float = 30  # SHOPKEEPER_TRACKER_RETENTION_DAYS: idle conversations are deleted after

    def __post_init__(self) -> None:
        # Addresses follow the ports unless given (a frozen dataclass sets them this way).
        if not self.rasa_url:
            object.__setattr__(self, "rasa_url", f"http://{self.reachable_internal_host}:{self.rasa_port}")
        if not self.actions_url:
            object.__setattr__(self, "actions_url", f"http://{self.reachable_internal_host}:{self.actions_port}")

    @property
    def reachable_internal_host(self) -> str:
        """Where to reach the internal services: their host, or loopback when they listen everywhere."""
        return "127.0.0.1" if self.internal_host in ("0.0.0.0", "::", "") else self.internal_host

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotSettings:
        env = os.environ if env is None else env
        return cls(
            gateway_host=env.get("SHOPKEEPER_GATEWAY_HOST") or cls.gateway_host,
            internal_host=env.get("SHOPKEEPER_INTERNAL_HOST") or cls.internal_host,
            rasa_token=(env.get("SHOPKEEPER_RASA_TOKEN") or "").strip(),
            agent_token=(env.get("SHOPKEEPER_AGENT_TOKEN") or "").strip(),
            gateway_port=int(env.get("SHOPKEEPER_GATEWAY_PORT") or cls.gateway_port),
            rasa_port=int(env.get("SHOPKEEPER_RASA_PORT") or cls.rasa_port),
            actions_port=int(env.get("SHOPKEEPER_ACTIONS_PORT") or cls.actions_port),
            rasa_url=env.get("SHOPKEEPER_RASA_URL") or "",
            session_secret=(env.get("SHOPKEEPER_SESSION_SECRET") or "").strip(),
            actions_url=env.get("SHOPKEEPER_ACTIONS_URL") or "",
            allowed_origins=tuple(
                o.strip().rstrip("/") for o in (env.get("SHOPKEEPER_ALLOWED_ORIGINS") or "").split(",") if o.strip()
            ),
            session_messages_per_min=float(
                env.get("SHOPKEEPER_SESSION_MESSAGES_PER_MIN") or cls.session_messages_per_min
            ),
            client_messages_per_min=float(env.get("SHOPKEEPER_CLIENT_MESSAGES_PER_MIN") or cls.client_messages_per_min),
            session_audio_s_per_min=float(env.get("SHOPKEEPER_SESSION_AUDIO_S_PER_MIN") or cls.session_audio_s_per_min),
            client_audio_s_per_min=float(env.get("SHOPKEEPER_CLIENT_AUDIO_S_PER_MIN") or cls.client_audio_s_per_min),
            tracker_url=(env.get("SHOPKEEPER_TRACKER_URL") or "").strip(),
            lock_url=(env.get("SHOPKEEPER_LOCK_URL") or "").strip(),
            event_broker_url=(env.get("SHOPKEEPER_EVENT_BROKER_URL") or "").strip(),
            gateway_redis_url=(env.get("SHOPKEEPER_GATEWAY_REDIS_URL") or "").strip(),
            tracker_retention_days=float(env.get("SHOPKEEPER_TRACKER_RETENTION_DAYS") or cls.tracker_retention_days),
        )
