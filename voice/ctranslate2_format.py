"""Read a CTranslate2 ``model.bin`` (the faster-whisper format) into numpy arrays.

The file is a flat little-endian record, version 6 here:
``u32 version, str spec_name, u32 revision, u32 count, count × variable, u32 aliases, aliases``,
where a string is ``u16 length`` + UTF-8 bytes ending in NUL and a variable is
``str name, u8 rank, rank × u32 dims, u8 dtype, u32 nbytes, nbytes of data``.
We read it ourselves so preparing the model needs no CTranslate2 install.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

# CTranslate2's DataType enum, in its order.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


class FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


class _Chained:
    """Read several files one after another as one stream (the base model ships in two parts)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._index = 0

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0 and self._index < len(self._files):
            chunk = self._files[self._index].read(size)
            if not chunk:
                self._index += 1
                continue
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        for f in self._files:
            f.close()


def _read(stream: _Chained, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    data = stream.read(size)
    if len(data) != size:
        raise FormatError("model file ends early (truncated download?)")
    return struct.unpack(fmt, data)


def _string(stream: _Chained) -> str:
    (length,) = _read(stream, "<H")
    raw = stream.read(length)
    if len(raw) != length:
        raise FormatError("model file ends early (truncated download?)")
    return raw.rstrip(b"\0").decode("utf-8")


def read_model(paths: list[Path]) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable name: array}) from one model file or its parts in order."""
    stream = _Chained(paths)
    try:
        (version,) = _read(stream, "<I")
        if version < 5:
            raise FormatError(f"CTranslate2 model version {version} is too old (need 5 or newer)")
        spec = _string(stream)
        _read(stream, "<I")  # spec revision
        (count,) = _read(stream, "<I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(count):
            name = _string(stream)
            (rank,) = _read(stream, "<B")
            dims = _read(stream, "<" + "I" * rank) if rank else ()
            (dtype_id,) = _read(stream, "<B")
            (nbytes,) = _read(stream, "<I")
            raw = stream.read(nbytes)
            if len(raw) != nbytes:
                raise FormatError(f"model file ends inside variable {name!r} (truncated?)")
            if dtype_id not in DTYPES:
                raise FormatError(f"variable {name!r} has unsupported dtype id {dtype_id}")
            variables[name] = np.frombuffer(raw, dtype=DTYPES[dtype_id]).reshape(dims)
        (aliases,) = _read(stream, "<I")
        for _ in range(aliases):
            alias, target = _string(stream), _string(stream)
            variables[alias] = variables[target]
        return spec, variables
    finally:
        stream.close()
