"""The gateway's speech recogniser: loaded in the background, run on one worker thread.

Torch uses both cores inside that one thread, so the event loop keeps serving other sessions while a
turn decodes. Partial transcripts (previews) never delay a final one: a running preview is stopped
at its next encoder layer or decoded token when a final transcript needs the worker.

The end-of-turn model (voice/end_of_turn.py) runs on the same worker, just before the early final
transcript of the pause: run beside it on a 2-core machine it slowed the transcript by more than
its own 40 ms (benchmarks/results/turn_taking_dev.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from voice.asr import Recognizer, Transcript
from voice.audio import Audio
from voice.end_of_turn import TurnModel, model_path
from voice.settings import VoiceSettings
from voice.turn_text import TextTurnModel

log = logging.getLogger("shopkeeper.gateway")


class SpeechUnavailable(RuntimeError):
    """The recogniser failed to load (or never did); the message says why."""


class SpeechService:
    """One Whisper recogniser for the whole gateway, with the catalogue's names for biasing."""

    def __init__(self, settings: VoiceSettings, db: str | Path | None = None) -> None:
        self.settings = settings
        self.db = db
        self.recognizer: Recognizer | None = None
        self.error: str | None = None
        self.busy = 0  # passes queued or running on the worker
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._ready = threading.Event()
        self._previews: set[threading.Event] = set()  # stop events of previews queued or running
        self.turn_model: TurnModel | None = None
        self.turn_error: str | None = None
        self.text_turn_model: TextTurnModel | None = None
        self.text_turn_error: str | None = None

    def load(self) -> None:
        try:
            from voice.vocabulary import default_prompt, shop_corrector

            recognizer = Recognizer(
                self.model,
                threads=2,
                prompt=default_prompt(self.settings),
                corrector=shop_corrector(self.db),
                settings=self.settings,
            )
            recognizer.warm_up()
            self.recognizer = recognizer  # ready only once warm
            log.info("ASR %s loaded in %.1f s", self.model, recognizer.load_s)
        except Exception as error:  # reported by /health and to every voice turn
            self.error = f"{type(error).__name__}: {error}"
            log.exception("ASR model failed to load")
        finally:
            self._ready.set()
        if self.settings.end_of_turn == "model":
            self.load_turn_model()

    def load_turn_model(self) -> None:
        """Smart Turn, when the gateway decides turns with it; without it, turns end on the fallback silence."""
        try:
            model = TurnModel(model_path(), threads=2)  # alone on the worker: both cores
            model.complete(np.zeros(8000, dtype=np.float32))  # onnxruntime's first run is slow
            self.turn_model = model
        except Exception as error:  # reported by /health; turns then end on silence alone
            self.turn_error = f"{type(error).__name__}: {error}"
            log.warning(
                "end-of-turn model unavailable (%s); turns end after %.1f s of silence",
                self.turn_error,
                self.settings.turn_fallback_s,
            )
        try:
            self.text_turn_model = TextTurnModel.from_nlu(self.settings.nlu_data)
        except Exception as error:  # reported by /health; Smart Turn then decides alone
            self.text_turn_error = f"{type(error).__name__}: {error}"
            log.warning("transcript end-of-turn model unavailable (%s)", self.text_turn_error)

    @property
    def model(self) -> str:
        return self.settings.asr_model

    def start(self) -> None:
        threading.Thread(target=self.load, name="asr-load", daemon=True).start()

    @property
    def ready(self) -> bool:
        return self.recognizer is not None

    def health(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "ready": self.ready,
            "error": self.error,
            "load_s": round(self.recognizer.load_s, 2) if self.recognizer else None,
            "end_of_turn": self.settings.end_of_turn,
            "end_of_turn_model": self.turn_model is not None,
            "end_of_turn_error": self.turn_error,
            "end_of_turn_text_model": self.text_turn_model is not None,
            "end_of_turn_text_error": self.text_turn_error,
        }

    def text_complete(self, text: str) -> float | None:
        """The probability that ``text`` is a whole request (a fraction of a millisecond); None
        without the transcript model or without words."""
        return self.text_turn_model.complete(text) if self.text_turn_model is not None else None

    async def turn_complete(self, audio: Audio) -> float | None:
        """The probability that the turn ending with ``audio`` is finished; None without the model."""
        if self.turn_model is None:
            return None
        job = functools.partial(self.turn_model.complete, audio.samples)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def transcribe(self, audio: Audio, preview: bool = False, stop: threading.Event | None = None) -> Transcript:
        """A final transcript, or with ``preview`` a quick unbiased one that gives way to any final
        one (``Interrupted``) rather than delay it. Setting ``stop`` ends either early."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._ready.wait, 600)
        if self.recognizer is None:
            raise SpeechUnavailable(f"speech recognition is unavailable ({self.error or 'still loading'})")
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


def transcript_event(transcript: Transcript, final: bool) -> dict[str, Any]:
    """The ``transcript`` socket.io event's payload."""
    return {
        "text": transcript.text,
        "final": final,
        "confidence": transcript.confidence,
        "language": transcript.language,
        "duration_s": transcript.duration_s,
        "decode_s": transcript.decode_s,
    }
