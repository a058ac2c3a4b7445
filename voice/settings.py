"""Speech settings: which Whisper model, its window and biasing, audio limits, where models live.

Read from the environment when they are needed (``VoiceSettings.from_env()``), not at import, so a
value set after start-up is honoured; callers that know better pass values explicitly. Every
variable is listed in the README's settings table (``tests/unit/test_settings.py`` checks).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# base: the accurate one (both WER targets); tiny.en is twice as fast, for older CPUs where base runs
# slower than 0.5 × real time (README, "Default model").
DEFAULT_MODEL = "base"
# Whisper is trained on 30 s windows, but its encoder costs the same for 3 s of speech padded to
# 30 s. A 15 s window halves that cost with no loss on our speech sets
# (benchmarks/results/asr_window.md); 10 s starts to hallucinate.
DEFAULT_WINDOW_S = 15.0
DEFAULT_MAX_AUDIO_S = 30.0
DEFAULT_MAX_AUDIO_BYTES = 10 * 1024 * 1024
# Who ends a streamed spoken turn: "model" (Smart Turn hears whether the shopper has finished, a
# fallback silence when it says no), "silence" (a fixed silence), "client" (only user_audio_end).
END_OF_TURN_MODES = ("model", "silence", "client")
DEFAULT_END_OF_TURN = "model"
# Smart Turn's "finished" and the transcript's "reads like a whole request" (voice/turn_text.py) both
# have to agree at a pause. Chosen together on the turn-taking dev part: Smart Turn alone at 0.5 cut
# off 18 of 24 turns with inner pauses in an offline replay; 0.3 and 0.7 together cut off 2.
DEFAULT_TURN_THRESHOLD = 0.3
DEFAULT_TURN_TEXT_THRESHOLD = 0.7
DEFAULT_TURN_SILENCE_S = 0.5  # "silence": the turn ends after this much quiet
DEFAULT_TURN_FALLBACK_S = 1.0  # "model": the turn ends after this much quiet even when the model says "not yet"
# ...unless the transcript reads unfinished ("can you show me", "order 100"): then only after the long
# fallback. Dev, same machine: 3 of 24 paused turns cut off at 0.3, 10 of 24 with 1.0 s alone (0 turns it off).
DEFAULT_TURN_UNFINISHED_BELOW = 0.3
DEFAULT_TURN_LONG_FALLBACK_S = 2.0
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_NLU_DATA = Path(__file__).resolve().parent.parent / "data" / "nlu"


def _flag(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _mode(value: str | None) -> str:
    mode = (value or DEFAULT_END_OF_TURN).strip().lower()
    if mode not in END_OF_TURN_MODES:
        raise ValueError(f"SHOPKEEPER_END_OF_TURN is {value!r}; use one of {', '.join(END_OF_TURN_MODES)}")
    return mode


@dataclass(frozen=True)
class VoiceSettings:
    asr_model: str = DEFAULT_MODEL  # SHOPKEEPER_ASR_MODEL: base, tiny.en, or a SpeechBrain folder
    window_s: float = DEFAULT_WINDOW_S  # SHOPKEEPER_ASR_WINDOW_S: Whisper's encoder window (30 = Whisper's own)
    bias: bool = True  # SHOPKEEPER_ASR_BIAS: shop names get a checked bonus while decoding (0 = off)
    onnx_encoder: bool = True  # SHOPKEEPER_ASR_ONNX: Whisper's encoder runs in ONNX Runtime (0 = torch)
    prompt: str = ""  # SHOPKEEPER_ASR_PROMPT: "shop" for the shopping prompt, or any text; empty = none
    allow_hub: bool = False  # SHOPKEEPER_ALLOW_HUB: let SpeechBrain fetch a model hub id (1 = allow)
    max_audio_s: float = DEFAULT_MAX_AUDIO_S  # SHOPKEEPER_MAX_AUDIO_S: longest utterance accepted
    max_audio_bytes: int = DEFAULT_MAX_AUDIO_BYTES  # SHOPKEEPER_MAX_AUDIO_BYTES: largest upload accepted
    models_dir: Path = DEFAULT_MODELS_DIR  # SHOPKEEPER_MODELS: where prepared Whisper folders go
    end_of_turn: str = DEFAULT_END_OF_TURN  # SHOPKEEPER_END_OF_TURN: model, silence or client
    turn_threshold: float = DEFAULT_TURN_THRESHOLD  # SHOPKEEPER_TURN_THRESHOLD: model's "finished" above this
    turn_text_threshold: float = DEFAULT_TURN_TEXT_THRESHOLD  # SHOPKEEPER_TURN_TEXT_THRESHOLD: transcript's too
    nlu_data: Path = DEFAULT_NLU_DATA  # SHOPKEEPER_NLU_DATA: the bot's NLU examples, which teach the transcript model
    turn_silence_s: float = DEFAULT_TURN_SILENCE_S  # SHOPKEEPER_TURN_SILENCE_S: quiet that ends a turn ("silence")
    turn_fallback_s: float = DEFAULT_TURN_FALLBACK_S  # SHOPKEEPER_TURN_FALLBACK_S: quiet that ends it anyway ("model")
    turn_unfinished_below: float = DEFAULT_TURN_UNFINISHED_BELOW  # SHOPKEEPER_TURN_UNFINISHED_BELOW: words read open
    turn_long_fallback_s: float = DEFAULT_TURN_LONG_FALLBACK_S  # SHOPKEEPER_TURN_LONG_FALLBACK_S: quiet then
    tts_voice: str = "slt"  # SHOPKEEPER_TTS_VOICE: flite voice of spoken replies for clients that ask ("off": none)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> VoiceSettings:
        env = os.environ if env is None else env
        return cls(
            asr_model=env.get("SHOPKEEPER_ASR_MODEL") or DEFAULT_MODEL,
            window_s=float(env.get("SHOPKEEPER_ASR_WINDOW_S") or DEFAULT_WINDOW_S),
            bias=_flag(env.get("SHOPKEEPER_ASR_BIAS"), True),
            onnx_encoder=_flag(env.get("SHOPKEEPER_ASR_ONNX"), True),
            prompt=(env.get("SHOPKEEPER_ASR_PROMPT") or "").strip(),
            allow_hub=_flag(env.get("SHOPKEEPER_ALLOW_HUB"), False),
            max_audio_s=float(env.get("SHOPKEEPER_MAX_AUDIO_S") or DEFAULT_MAX_AUDIO_S),
            max_audio_bytes=int(env.get("SHOPKEEPER_MAX_AUDIO_BYTES") or DEFAULT_MAX_AUDIO_BYTES),
            models_dir=Path(env.get("SHOPKEEPER_MODELS") or DEFAULT_MODELS_DIR),
            end_of_turn=_mode(env.get("SHOPKEEPER_END_OF_TURN")),
            turn_threshold=float(env.get("SHOPKEEPER_TURN_THRESHOLD") or DEFAULT_TURN_THRESHOLD),
            turn_text_threshold=float(env.get("SHOPKEEPER_TURN_TEXT_THRESHOLD") or DEFAULT_TURN_TEXT_THRESHOLD),
            nlu_data=Path(env.get("SHOPKEEPER_NLU_DATA") or DEFAULT_NLU_DATA),
            turn_silence_s=float(env.get("SHOPKEEPER_TURN_SILENCE_S") or DEFAULT_TURN_SILENCE_S),
            turn_fallback_s=float(env.get("SHOPKEEPER_TURN_FALLBACK_S") or DEFAULT_TURN_FALLBACK_S),
            turn_unfinished_below=float(env.get("SHOPKEEPER_TURN_UNFINISHED_BELOW") or DEFAULT_TURN_UNFINISHED_BELOW),
            turn_long_fallback_s=float(env.get("SHOPKEEPER_TURN_LONG_FALLBACK_S") or DEFAULT_TURN_LONG_FALLBACK_S),
            tts_voice=(env.get("SHOPKEEPER_TTS_VOICE") or "slt").strip(),
        )
