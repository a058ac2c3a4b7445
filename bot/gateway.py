"""The gateway browsers and voice clients connect to: FastAPI + python-socketio on one port.

    python -m bot.gateway [--port 8000] [--rasa-url http://localhost:5005]

Socket.io speaks Rasa's socketio channel protocol (so rasa-webchat works unchanged) and adds
voice: audio chunks in, a transcript out, then the bot's replies. Text goes to Rasa's REST
webhook with metadata (modality, ASR confidence, language); replies come back in the format
Rasa's own socketio channel emits. Speech recognition runs on one worker thread (torch uses
both cores inside it), so the event loop keeps serving other sessions while a turn decodes.
Clients may ask for partial transcripts while they speak. Streamed PCM is watched for the end
of speech: once the speech is followed by silence, the final transcript starts while the client
is still sending that silence. The same app serves the chat widget
(bot/web.py). Events and endpoints are documented in the README ("Socket.io events").
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import inspect
import logging
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio
from fastapi import FastAPI, File, HTTPException, UploadFile

from bot.replies import to_socketio
from bot.web import add_widget_routes
from voice.asr import DEFAULT_MODEL, Interrupted, Recognizer, Transcript
from voice.audio import MAX_BYTES, SAMPLE_RATE, Audio, AudioError, decode, from_pcm16, speech_bounds

log = logging.getLogger("shopkeeper.gateway")
MAX_MESSAGE_CHARS = 2000
# Partial transcripts (when a client asks): at most one pass per this much new audio.
PARTIAL_EVERY_S = 1.0
# Silence after the detected speech end (which already keeps 0.2 s of margin) before the final
# transcript starts early; looked for at most once per ENDPOINT_EVERY_S of new audio.
ENDPOINT_SILENCE_S = 0.3
ENDPOINT_EVERY_S = 0.1
AUDIO_FORMATS = ("pcm16", "wav", "flac", "ogg", "webm", "mp3", "m4a")


@dataclass
class Settings:
    rasa_url: str = os.environ.get("SHOPKEEPER_RASA_URL",
                                   f"http://localhost:{os.environ.get('SHOPKEEPER_RASA_PORT', '5005')}")
    actions_url: str = os.environ.get("SHOPKEEPER_ACTIONS_URL",
                                      f"http://localhost:{os.environ.get('SHOPKEEPER_ACTIONS_PORT', '5055')}")
    asr_model: str = DEFAULT_MODEL
    db: str | None = os.environ.get("SHOPKEEPER_DB")
    rasa_timeout_s: float = 60.0


@dataclass
class EarlyFinal:
    """A final transcript started while the client still streams the silence after the speech."""

    task: asyncio.Task[Transcript]
    samples: int  # 16 kHz samples of audio it was given
    stop: threading.Event  # set when the shopper speaks again: the transcript would be stale


@dataclass
class Utterance:
    """Audio chunks of one spoken turn as they arrive."""

    format: str = "pcm16"
    sample_rate: int = 16000
    channels: int = 1
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    next_seq: int = 0
    partial: bool = False  # the client wants transcripts while it speaks
    partial_at: int = 0  # bytes received when the last partial pass started
    endpoint_at: int = 0  # bytes received when the end of speech was last looked for
    early: EarlyFinal | None = None


class SpeechService:
    """Loads the recogniser in the background and runs it on one worker thread."""

    def __init__(self, model: str, db: str | None) -> None:
        self.model = model
        self.db = db
        self.recognizer: Recognizer | None = None
        self.error: str | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._ready = threading.Event()
        self.busy = 0  # passes queued or running on the worker
        self._previews: set[threading.Event] = set()  # stop events of previews queued or running

    def load(self) -> None:
        try:
            from voice.vocabulary import default_prompt, shop_corrector

            recognizer = Recognizer(self.model, threads=2, prompt=default_prompt(),
                                    corrector=shop_corrector(self.db))
            recognizer.warm_up()
            self.recognizer = recognizer  # ready only once warm
            log.info("ASR %s loaded in %.1f s", self.model, recognizer.load_s)
        except Exception as error:  # reported by /health and to every voice turn
            self.error = f"{type(error).__name__}: {error}"
            log.exception("ASR model failed to load")
        finally:
            self._ready.set()

    def start(self) -> None:
        threading.Thread(target=self.load, name="asr-load", daemon=True).start()

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    async def transcribe(self, audio: Audio, preview: bool = False,
                         stop: threading.Event | None = None) -> Transcript:
        """A final transcript, or with ``preview`` a quick unbiased one that gives way to any final
        one (``Interrupted``) rather than delay it. Setting ``stop`` ends either early."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._ready.wait, 600)
        if self.recognizer is None:
            raise RuntimeError(f"speech recognition is unavailable ({self.error or 'still loading'})")
        stop = stop or threading.Event()
        if preview:
            self._previews.add(stop)
        else:
            for running in self._previews:
                running.set()
        self.busy += 1
        try:
            job = functools.partial(self.recognizer.transcribe, audio.samples, biased=not preview, stop=stop)
            return await loop.run_in_executor(self._executor, job)
        finally:
            self.busy -= 1
            self._previews.discard(stop)


def decode_utterance(utterance: Utterance) -> Audio:
    data = b"".join(utterance.chunks)
    if utterance.format == "pcm16":
        return from_pcm16(data, utterance.sample_rate, utterance.channels)
    return decode(data)


def transcript_event(transcript: Transcript, final: bool) -> dict[str, Any]:
    return {"text": transcript.text, "final": final, "confidence": transcript.confidence,
            "language": transcript.language, "duration_s": transcript.duration_s, "decode_s": transcript.decode_s}


def create_app(settings: Settings | None = None) -> tuple[FastAPI, socketio.AsyncServer, Any]:
    """(FastAPI app, socket.io server, the ASGI app serving both)."""
    settings = settings or Settings()
    speech = SpeechService(settings.asr_model, settings.db)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        speech.start()
        state["http"] = httpx.AsyncClient(timeout=settings.rasa_timeout_s)
        yield
        await state["http"].aclose()

    app = FastAPI(title="Shopkeeper gateway", lifespan=lifespan,
                  description="Text and voice in front of the Shopkeeper Rasa bot. Socket.io events are "
                              "described in the README.")
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*",
                               max_http_buffer_size=MAX_BYTES + 1024 * 1024)
    sessions: dict[str, str] = {}  # socket id -> conversation (session) id
    utterances: dict[str, Utterance] = {}  # socket id -> audio being received
    background: set[asyncio.Task[None]] = set()

    async def ask_rasa(sender: str, text: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
        response = await state["http"].post(f"{settings.rasa_url}/webhooks/rest/webhook",
                                            json={"sender": sender, "message": text, "metadata": metadata})
        response.raise_for_status()
        return list(response.json() or [])

    async def error(sid: str, code: str, message: str) -> None:
        await sio.emit("error", {"code": code, "message": message}, to=sid)

    async def reply(sid: str, text: str, metadata: dict[str, Any]) -> None:
        """Send one user turn to Rasa and relay every reply to the conversation's room."""
        session_id = sessions.get(sid, sid)
        try:
            messages = await ask_rasa(session_id, text, metadata)
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("Rasa did not answer: %s", exc)
            await error(sid, "bot_unavailable", "The assistant is not reachable right now; please try again.")
            return
        for message in messages:
            for payload in to_socketio(message):
                await sio.emit("bot_uttered", payload, room=session_id)
        # Not part of Rasa's protocol (clients that don't know it ignore it): every reply is out.
        await sio.emit("turn_end", {"replies": len(messages)}, to=sid)

    def metadata_of(data: dict[str, Any]) -> dict[str, Any]:
        meta = data.get("customData") or data.get("metadata") or {}
        return dict(meta) if isinstance(meta, dict) else {}

    @sio.event
    async def connect(sid: str, environ: dict, auth: Any = None) -> None:
        log.debug("connected %s", sid)

    @sio.event
    async def disconnect(sid: str) -> None:
        sessions.pop(sid, None)
        drop_utterance(sid)

    @sio.event
    async def session_request(sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        session_id = str(data.get("session_id") or uuid.uuid4().hex)
        sessions[sid] = session_id
        entered = sio.enter_room(sid, session_id)
        if inspect.isawaitable(entered):  # a coroutine from python-socketio 5.10 on
            await entered
        await sio.emit("session_confirm", session_id, to=sid)

    @sio.event
    async def user_uttered(sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {"message": data}
        text = str(data.get("message") or "").strip()
        if not text:
            await error(sid, "empty_message", "The message was empty; type or say something.")
            return
        if len(text) > MAX_MESSAGE_CHARS:
            await error(sid, "message_too_long",
                        f"The message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}.")
            return
        await reply(sid, text, {"modality": "text", **metadata_of(data)})

    @sio.event
    async def user_audio(sid: str, data: Any = None) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("chunk"), (bytes, bytearray)):
            await error(sid, "bad_audio_chunk", "An audio chunk must be an object with binary 'chunk'.")
            return
        current = utterances.get(sid)
        try:
            seq = int(data.get("seq", 0) or 0)
            rate, channels = int(data.get("sample_rate") or 16000), int(data.get("channels") or 1)
        except (TypeError, ValueError):
            await error(sid, "bad_audio_chunk", "'seq', 'sample_rate' and 'channels' must be whole numbers.")
            return
        if current is None or seq == 0:
            fmt = str(data.get("format") or "pcm16").lower()
            if fmt not in AUDIO_FORMATS:
                await error(sid, "bad_audio_format", f"Audio format {fmt!r} is not one of {', '.join(AUDIO_FORMATS)}.")
                return
            drop_utterance(sid)  # a new utterance replaces one never ended
            current = utterances[sid] = Utterance(fmt, rate, channels, partial=bool(data.get("partial")))
        if seq != current.next_seq:
            drop_utterance(sid)
            await error(sid, "audio_out_of_order",
                        f"Audio chunk {seq} arrived where {current.next_seq} was expected; the utterance "
                        "was dropped, please say it again.")
            return
        current.next_seq += 1
        current.chunks.append(bytes(data["chunk"]))
        current.size += len(data["chunk"])
        if current.size > MAX_BYTES:
            drop_utterance(sid)
            await error(sid, "audio_too_large", f"The utterance is over {MAX_BYTES // 1_000_000} MB; it was dropped.")
            return
        # A partial pass only on an idle worker, so it never delays anyone's final transcript by
        # more than the one pass already running; PCM only (no decoding of half a container).
        second = current.sample_rate * current.channels * 2
        if (current.partial and current.format == "pcm16" and speech.ready and speech.busy == 0
                and current.size - current.partial_at >= PARTIAL_EVERY_S * second):
            current.partial_at = current.size
            keep(asyncio.create_task(partial_transcript(sid, current)))
        if (current.format == "pcm16" and speech.ready
                and current.size - current.endpoint_at >= ENDPOINT_EVERY_S * second):
            current.endpoint_at = current.size
            watch_for_end_of_speech(current)

    def drop_utterance(sid: str) -> None:
        dropped = utterances.pop(sid, None)
        if dropped is not None and dropped.early is not None:
            dropped.early.stop.set()

    def keep(task: asyncio.Task[Any]) -> None:
        background.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(background.discard)

    def watch_for_end_of_speech(current: Utterance) -> None:
        """Starts the final transcript once the speech so far is followed by silence; drops it
        when the shopper speaks again."""
        try:
            audio = decode_utterance(current)
        except AudioError:
            return  # the final pass reports it
        start, end = speech_bounds(audio.samples)
        if current.early is not None:
            if end > current.early.samples:  # more speech after the pause
                current.early.stop.set()
                current.early = None
        elif end > start and len(audio.samples) - end >= ENDPOINT_SILENCE_S * SAMPLE_RATE:
            stop = threading.Event()
            task = asyncio.create_task(speech.transcribe(audio, stop=stop))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a stale one's error is nobody's
            keep(task)
            current.early = EarlyFinal(task, len(audio.samples), stop)

    async def final_transcript(current: Utterance, audio: Audio) -> Transcript:
        """The early transcript when no speech came after it, else a new one of the whole audio."""
        early = current.early
        if early is not None and speech_bounds(audio.samples)[1] <= early.samples:
            try:
                transcript = await early.task
                return dataclasses.replace(transcript, duration_s=round(audio.duration_s, 3))  # all of it was heard
            except Interrupted:
                pass
        elif early is not None:
            early.stop.set()
        return await speech.transcribe(audio)

    async def partial_transcript(sid: str, utterance: Utterance) -> None:
        try:
            # A preview costs one decode; the final pass adds the catalogue's names.
            transcript = await speech.transcribe(decode_utterance(utterance), preview=True)
        except (AudioError, RuntimeError):  # Interrupted too: a final transcript needed the worker
            return  # the final pass reports problems
        if utterances.get(sid) is utterance and transcript.text:  # still being spoken
            await sio.emit("transcript", transcript_event(transcript, final=False), to=sid)

    @sio.event
    async def user_audio_end(sid: str, data: Any = None) -> None:
        data = data if isinstance(data, dict) else {}
        current = utterances.pop(sid, None)
        if current is None or not current.chunks:
            await error(sid, "no_audio", "No audio was received for this utterance.")
            return
        ended = time.perf_counter()
        try:
            audio = await asyncio.get_running_loop().run_in_executor(None, decode_utterance, current)
            transcript = await final_transcript(current, audio)
        except AudioError as exc:
            await error(sid, "bad_audio", f"The audio could not be used: {exc}.")
            return
        except RuntimeError as exc:
            await error(sid, "asr_unavailable", str(exc))
            return
        await sio.emit("transcript", transcript_event(transcript, final=True), to=sid)
        if not transcript.text:
            await error(sid, "no_speech", "No speech was heard; please try again, a little closer to the microphone.")
            return
        await reply(sid, transcript.text, {
            "modality": "voice", "asr_confidence": transcript.confidence, "language": transcript.language,
            "asr_model": speech.model, **metadata_of(data)})
        log.info("voice turn: %.2f s from end of audio to replies sent", time.perf_counter() - ended)

    @app.post("/api/transcribe", summary="Transcribe an uploaded audio file")
    async def transcribe(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        data = await file.read(MAX_BYTES + 1)
        try:
            audio = await asyncio.get_running_loop().run_in_executor(None, decode, data)
            transcript = await speech.transcribe(audio)
        except AudioError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except RuntimeError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return {"file": file.filename, **transcript.as_dict()}

    async def reachable(url: str) -> bool:
        try:
            return (await state["http"].get(url, timeout=3)).status_code == 200
        except httpx.HTTPError:
            return False

    @app.get("/health", summary="Readiness of Rasa, the action server and speech recognition")
    async def health() -> dict[str, Any]:
        rasa, actions = await asyncio.gather(reachable(f"{settings.rasa_url}/status"),
                                             reachable(f"{settings.actions_url}/health"))
        asr = {"model": speech.model, "ready": speech.ready, "error": speech.error,
               "load_s": round(speech.recognizer.load_s, 2) if speech.recognizer else None}
        ok = rasa and actions and speech.ready
        return {"status": "ok" if ok else "degraded", "rasa": rasa, "actions": actions, "asr": asr}

    add_widget_routes(app)

    return app, sio, socketio.ASGIApp(sio, other_asgi_app=app)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bot.gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("SHOPKEEPER_GATEWAY_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SHOPKEEPER_GATEWAY_PORT", "8000")))
    parser.add_argument("--rasa-url", default=None)
    parser.add_argument("--actions-url", default=None)
    parser.add_argument("--asr-model", default=None, help="tiny.en, base, or a SpeechBrain model folder")
    args = parser.parse_args(argv)
    settings = Settings()
    settings.rasa_url = args.rasa_url or settings.rasa_url
    settings.actions_url = args.actions_url or settings.actions_url
    settings.asr_model = args.asr_model or settings.asr_model
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _, _, asgi = create_app(settings)
    uvicorn.run(asgi, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
