"""The gateway's HTTP API: ``POST /api/transcribe``, ``GET /health`` and the demo's ``GET /demo/outbox``
(the widget's pages are bot/web.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Request, UploadFile

from bot.rasa_client import RasaClient
from bot.rate_limits import RATE_LIMITED, RateLimits, rate_limited_message
from bot.speech import SpeechService
from catalog import CatalogSettings, Store
from voice.audio import AudioError, decode


def add_api_routes(app: FastAPI, speech: SpeechService, rasa: RasaClient, max_bytes: int, limits: RateLimits) -> None:
    @app.post("/api/transcribe", summary="Transcribe an uploaded audio file")
    async def transcribe(request: Request, file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        client = request.client.host if request.client else "unknown"
        if not limits.allow_message(f"http:{client}", client):
            limited = {"code": RATE_LIMITED, "message": rate_limited_message("requests")}
            raise HTTPException(status_code=429, detail=limited)
        data = await file.read(max_bytes + 1)
        try:
            audio = await asyncio.get_running_loop().run_in_executor(
                None, lambda: decode(data, max_seconds=speech.settings.max_audio_s, max_bytes=max_bytes)
            )
            if not limits.allow_audio(f"http:{client}", client, audio.duration_s):
                raise HTTPException(
                    status_code=429, detail={"code": RATE_LIMITED, "message": rate_limited_message("seconds of audio")}
                )
            transcript = await speech.transcribe(audio)
        except AudioError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except RuntimeError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return {"file": file.filename, **transcript.as_dict()}

    @app.get("/health/live", summary="The gateway itself answers (what a load balancer checks)")
    async def live() -> dict[str, str]:
        # Not /health: that one waits on Rasa, and a busy Rasa must not take every gateway out of rotation.
        return {"status": "ok"}

    @app.get("/health", summary="Readiness of Rasa, the action server and speech recognition")
    async def health() -> dict[str, Any]:
        rasa_ok, actions_ok = await asyncio.gather(rasa.rasa_ready(), rasa.actions_ready())
        ok = rasa_ok and actions_ok and speech.ready
        return {"status": "ok" if ok else "degraded", "rasa": rasa_ok, "actions": actions_ok, "asr": speech.health()}


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def add_outbox_route(app: FastAPI, db: Path | None) -> None:
    """The demo's mail (one-time codes), for the shop owner at this machine only.

    Served only while no SMTP server is configured, and only to loopback clients: anyone else who
    could read it could read every shopper's code.
    """

    @app.get("/demo/outbox", summary="E-mails kept on this machine (no SMTP server configured); loopback only")
    async def outbox(request: Request, to: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        if CatalogSettings.from_env().smtp_url:
            raise HTTPException(status_code=404, detail="Mail is sent by SMTP; there is no local outbox.")
        if not request.client or request.client.host not in LOOPBACK:
            raise HTTPException(status_code=403, detail="The outbox is only shown on the shop's own machine.")
        store = Store(db)
        try:
            return store.outbox(to[:254] if to else None, max(1, min(limit, 100)))
        finally:
            store.close()
