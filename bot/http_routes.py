"""The gateway's HTTP API: ``POST /api/transcribe`` and ``GET /health`` (the widget's pages are bot/web.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, File, HTTPException, UploadFile

from bot.rasa_client import RasaClient
from bot.speech import SpeechService
from voice.audio import AudioError, decode


def add_api_routes(app: FastAPI, speech: SpeechService, rasa: RasaClient, max_bytes: int) -> None:
    @app.post("/api/transcribe", summary="Transcribe an uploaded audio file")
    async def transcribe(file: UploadFile = File(...)) -> dict[str, Any]:  # noqa: B008 - FastAPI's idiom
        data = await file.read(max_bytes + 1)
        try:
            audio = await asyncio.get_running_loop().run_in_executor(
                None, lambda: decode(data, max_seconds=speech.settings.max_audio_s, max_bytes=max_bytes)
            )
            transcript = await speech.transcribe(audio)
        except AudioError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except RuntimeError as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from exc
        return {"file": file.filename, **transcript.as_dict()}

    @app.get("/health", summary="Readiness of Rasa, the action server and speech recognition")
    async def health() -> dict[str, Any]:
        rasa_ok, actions_ok = await asyncio.gather(rasa.rasa_ready(), rasa.actions_ready())
        ok = rasa_ok and actions_ok and speech.ready
        return {"status": "ok" if ok else "degraded", "rasa": rasa_ok, "actions": actions_ok, "asr": speech.health()}
