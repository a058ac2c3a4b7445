"""The gateway's socket.io events: Rasa's socketio protocol (so rasa-webchat works unchanged) plus voice.

``session_request`` → ``session_confirm``; ``user_uttered`` → ``bot_uttered`` replies; ``user_audio`` /
``user_audio_end`` → ``transcript`` then the replies; ``bot_audio`` (each reply spoken, sentence by
sentence) for sockets that asked with ``speak: true``; ``turn_end`` once a turn's replies are out;
``error`` with a code for anything that cannot be used (the conversation goes on). The README
("Socket.io events") documents every event and payload.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import socketio

from bot.commands import OfferedCommands
from bot.rasa_client import RasaClient
from bot.rate_limits import RATE_LIMITED, RateLimits, client_address, rate_limited_message
from bot.replies import to_socketio
from bot.sessions import SessionIds
from bot.speech import transcript_event
from bot.voice_turns import TurnError, Utterance, VoiceTurns
from voice.asr import Transcript
from voice.tts import Speaker, SpeechOutputError, sentences

log = logging.getLogger("shopkeeper.gateway")
MAX_MESSAGE_CHARS = 2000


CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(text: str) -> str:
    """Typed text as words: no control, zero-width or direction-override characters, valid UTF-8."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    return CONTROL.sub("", text).strip()


def metadata_of(data: dict[str, Any]) -> dict[str, Any]:
    """The client's metadata: rasa-webchat sends ``customData``, Rasa's own clients ``metadata``."""
    meta = data.get("customData") or data.get("metadata") or {}
    return dict(meta) if isinstance(meta, dict) else {}


class SocketEvents:
    """Registers the handlers on ``sio`` and keeps which conversation each socket belongs to."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        rasa: RasaClient,
        turns: VoiceTurns,
        asr_model: str,
        ids: SessionIds,
        limits: RateLimits,
        held_by_agent: Callable[[str], str | None] = lambda session: None,
        speaker: Speaker | None = None,
        speaker_error: str = "spoken replies are off",
    ) -> None:
        self.sio, self.rasa, self.turns, self.asr_model, self.ids = sio, rasa, turns, asr_model, ids
        self.limits = limits
        self.held_by_agent = held_by_agent  # a person from the shop answers this conversation (bot/agent_inbox.py)
        self.sessions: dict[str, str] = {}  # socket id -> conversation (session) id
        self.clients: dict[str, str] = {}  # socket id -> the client's address (for per-client limits)
        self.commands = OfferedCommands()  # /intent{...} payloads each conversation may send
        self.speaker, self.speaker_error = speaker, speaker_error  # the server's voice (voice/tts.py)
        self.listeners: set[str] = set()  # sockets that asked for spoken replies
        turns.on_partial = self.partial
        turns.on_turn_end = self.turn_ended
        for name in ("connect", "disconnect", "session_request", "user_uttered", "user_audio", "user_audio_end"):
            sio.on(name, getattr(self, name))

    async def error(self, sid: str, code: str, message: str) -> None:
        await self.sio.emit("error", {"code": code, "message": message}, to=sid)

    async def reply(self, sid: str, text: str, metadata: dict[str, Any]) -> None:
        """Send one user turn to Rasa and relay every reply to the conversation's room."""
        session_id = self.sessions.get(sid, sid)
        text = self.commands.admit(session_id, text)
        if not text:
            await self.error(sid, "empty_message", "The message was empty; type or say something.")
            return
        try:
            messages = await self.rasa.send(session_id, text, metadata)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("Rasa did not answer: %s", exc)
            await self.error(sid, "bot_unavailable", "The assistant is not reachable right now; please try again.")
            return
        if not messages:
            if self.held_by_agent(session_id):  # the bot is paused: the agent reads it in the inbox and answers
                await self.sio.emit("turn_end", {"replies": 0, "agent": True}, to=sid)
                return
            # Every turn of this bot answers; none means Rasa failed it (a store was down).
            await self.error(sid, "bot_unavailable", "The assistant could not answer that; please say it again.")
            return
        self.commands.remember(session_id, messages)
        for message in messages:
            for payload in to_socketio(message):
                await self.sio.emit("bot_uttered", payload, room=session_id)
        if sid in self.listeners:
            await self.speak(sid, [str(m["text"]) for m in messages if isinstance(m.get("text"), str)])
        # Not part of Rasa's protocol (clients that don't know it ignore it): every reply is out.
        await self.sio.emit("turn_end", {"replies": len(messages)}, to=sid)

    async def speak(self, sid: str, texts: list[str]) -> None:
        """The replies' text as ``bot_audio`` events, one WAV per sentence, the first out as soon as it is made."""
        if self.speaker is None:
            return
        loop = asyncio.get_running_loop()
        pieces = [piece for text in texts for piece in sentences(text)]
        for seq, piece in enumerate(pieces):
            try:
                audio = await loop.run_in_executor(None, self.speaker.speak, piece)
            except SpeechOutputError as exc:
                log.warning("spoken reply failed: %s", exc)
                await self.error(sid, "tts_unavailable", "The reply could not be spoken; it is in the text above.")
                return
            last = seq == len(pieces) - 1
            await self.sio.emit(
                "bot_audio", {"seq": seq, "text": piece, "format": "wav", "audio": audio, "last": last}, to=sid
            )

    def _keys(self, sid: str) -> tuple[str, str]:
        return self.sessions.get(sid, sid), self.clients.get(sid, "unknown")

    async def _allow_message(self, sid: str) -> bool:
        if self.limits.allow_message(*self._keys(sid)):
            return True
        await self.error(sid, RATE_LIMITED, rate_limited_message("messages"))
        return False

    async def _allow_audio(self, sid: str, seconds: float) -> bool:
        if self.limits.allow_audio(*self._keys(sid), seconds):
            return True
        self.turns.drop(sid)
        await self.error(sid, RATE_LIMITED, rate_limited_message("seconds of audio") + " The utterance was dropped.")
        return False

    async def partial(self, sid: str, transcript: Transcript) -> None:
        await self.sio.emit("transcript", transcript_event(transcript, final=False), to=sid)

    # -- handlers ------------------------------------------------------------------------------
    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self.clients[sid] = client_address(environ)
        log.debug("connected %s", sid)

    async def disconnect(self, sid: str) -> None:
        self.sessions.pop(sid, None)
        self.clients.pop(sid, None)
        self.listeners.discard(sid)
        self.turns.drop(sid)

    async def session_request(self, sid: str, data: Any = None) -> None:
        if not await self._allow_message(sid):  # new conversations cost like messages: no dodging the limits
            return
        data = data if isinstance(data, dict) else {}
        # Only an id this gateway signed continues a conversation; a guessed or made-up one starts a new one.
        session_id = self.ids.continue_or_issue(data.get("session_id"))
        self.sessions[sid] = session_id
        if data.get("speak") is True:
            if self.speaker is None:
                await self.error(sid, "tts_unavailable", f"Spoken replies are not available: {self.speaker_error}.")
            else:
                self.listeners.add(sid)
        entered = self.sio.enter_room(sid, session_id)
        if inspect.isawaitable(entered):  # a coroutine from python-socketio 5.10 on
            await entered
        await self.sio.emit("session_confirm", session_id, to=sid)

    async def user_uttered(self, sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {"message": data}
        text = clean_text(str(data.get("message") or ""))
        if not text:
            await self.error(sid, "empty_message", "The message was empty; type or say something.")
            return
        if len(text) > MAX_MESSAGE_CHARS:
            await self.error(
                sid, "message_too_long", f"The message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}."
            )
            return
        if not await self._allow_message(sid):
            return
        await self.reply(sid, text, {"modality": "text", **metadata_of(data)})

    async def user_audio(self, sid: str, data: Any = None) -> None:
        try:
            seconds = self.turns.receive(sid, data)
        except TurnError as exc:
            await self.error(sid, exc.code, exc.message)
            return
        await self._allow_audio(sid, seconds)

    async def user_audio_end(self, sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        ended = time.perf_counter()
        if not await self._allow_message(sid):
            self.turns.drop(sid)
            return
        try:
            session, client = self._keys(sid)
            transcript = await self.turns.finish(
                sid, charge=lambda seconds: self.limits.allow_audio(session, client, seconds)
            )
        except TurnError as exc:
            await self.error(sid, exc.code, exc.message)
            return
        if transcript is None:
            return  # the gateway had ended this turn already; only silence followed
        await self._answer(sid, transcript, data, "client")
        log.info("voice turn: %.2f s from end of audio to replies sent", time.perf_counter() - ended)

    async def turn_ended(self, sid: str, utterance: Utterance) -> None:
        """A turn the gateway ended (the shopper finished speaking) while the client streams on."""
        if not await self._allow_message(sid):
            return
        try:
            transcript = await self.turns.transcribe(utterance)
        except TurnError as exc:
            await self.error(sid, exc.code, exc.message)
            return
        early = utterance.early
        verdicts = (early.probability, early.text_probability) if early is not None else (None, None)
        await self._answer(sid, transcript, utterance.first, utterance.ended_by, verdicts)

    async def _answer(
        self,
        sid: str,
        transcript: Transcript,
        data: dict[str, Any],
        ended_by: str,
        verdicts: tuple[float | None, float | None] = (None, None),
    ) -> None:
        """The final transcript (who ended the turn, what the end-of-turn models said), then the replies."""
        event = {**transcript_event(transcript, final=True), "ended_by": ended_by}
        for key, verdict in zip(("end_of_turn_p", "end_of_turn_text_p"), verdicts, strict=True):
            if verdict is not None:
                event[key] = round(verdict, 3)
        await self.sio.emit("transcript", event, to=sid)
        if not transcript.text:
            await self.error(
                sid, "no_speech", "No speech was heard; please try again, a little closer to the microphone."
            )
            return
        await self.reply(
            sid,
            transcript.text,
            {
                "modality": "voice",
                "asr_confidence": transcript.confidence,
                "language": transcript.language,
                "asr_model": self.asr_model,
                **metadata_of(data),
            },
        )
