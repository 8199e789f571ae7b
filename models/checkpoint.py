"""Checkpoints: safetensors files with JSON metadata, written atomically.

A checkpoint is one safetensors file.  Arrays are stored as tensors under
namespaced names (``model.wte.weight``, ``optim.state.0.exp_avg``); everything
else (model kind and config, tokenizer, optimizer hyperparameters, RNG states,
training step) is a JSON document stored in the safetensors header metadata.

Header metadata layout (all values are strings, as safetensors requires)::

    "stepgrad"         JSON text of the user's ``meta`` dict (tagged, see below)
    "stepgrad.format"  format version, currently "1"
    "stepgrad.sha256"  sha256 over the JSON text and every tensor (name, dtype,
                       shape, bytes), so bit flips anywhere are detected

JSON tagging keeps Python values exact: a tuple is stored as
``{"__tuple__": [...]}`` and a dict whose keys are not all strings (an
optimizer's ``{0: {...}}`` state) as ``{"__dict__": [[key, value], ...]}``.
Ints stay ints (of any size, so numpy ``bit_generator.state`` fits), floats
round-trip bit-exactly (including nan and inf), numpy scalars come back as the
equal Python number.  Nothing is ever unpickled or executed on load.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from models.files import atomic_write_bytes

FORMAT_VERSION = 1
META_KEY = "stepgrad"
FORMAT_KEY = "stepgrad.format"
CHECKSUM_KEY = "stepgrad.sha256"
_TUPLE_TAG = "__tuple__"
_DICT_TAG = "__dict__"
_SUPPORTED_DTYPES = frozenset({
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "float16", "float32", "float64", "complex64",
})
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "SFC64")  # states made of plain ints


class CheckpointError(ValueError):
    """A checkpoint cannot be written or read; the message is one line."""


# ------------------------------------------------------------ random streams

def restore_rng(state: dict) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` in the saved ``bit_generator.state``."""
    name = state.get("bit_generator") if isinstance(state, dict) else None
    if name not in _BIT_GENERATORS:
        raise CheckpointError(f"unsupported random generator state: {name!r}")
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"damaged random generator state ({error})") from None
    return np.random.Generator(bit_generator)


# ---------------------------------------------------------------- JSON codec

def encode_meta(meta: Any) -> str:
    """Serialize ``meta`` to JSON text, tagging tuples and non-string dict keys."""
    return json.dumps(_tag(meta, "meta"), separators=(",", ":"))


def decode_meta(text: str) -> Any:
    """Inverse of ``encode_meta``."""
    return _untag(json.loads(text))


def _tag(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return _tag(value.item(), where)
    if isinstance(value, np.ndarray):
        raise CheckpointError(f"{where} is a numpy array; put arrays in tensors (see optim.flatten_state_dict)")
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_tag(v, f"{where}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_tag(v, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _tag_dict(value, where)
    raise CheckpointError(f"{where} has type {type(value).__name__}, which cannot be stored in checkpoint metadata")


def _tag_dict(value: dict, where: str) -> dict:
    plain = all(isinstance(k, str) for k in value) and not (
        len(value) == 1 and next(iter(value)) in (_TUPLE_TAG, _DICT_TAG))
    if plain:
        return {k: _tag(v, f"{where}.{k}") for k, v in value.items()}
    return {_DICT_TAG: [[_tag(k, where), _tag(v, f"{where}.{k}")] for k, v in value.items()]}


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and _TUPLE_TAG in value:
        return tuple(_untag(v) for v in value[_TUPLE_TAG])
    if len(value) == 1 and _DICT_TAG in value:
        return {_untag(k): _untag(v) for k, v in value[_DICT_TAG]}
    return {k: _untag(v) for k, v in value.items()}


# ------------------------------------------------------------- save and load

def save_checkpoint(path: str | os.PathLike, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``tensors`` and ``meta`` to a safetensors file at ``path``, atomically.

    ``tensors`` maps names to numpy arrays (bool, int8..uint64, float16/32/64,
    complex64); ``meta`` is a JSON-like dict (tuples, non-string keys, big
    ints and numpy scalars allowed).  The file replaces ``path`` in one step.
    """
    from safetensors.numpy import save

    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint meta must be a dict, not {type(meta).__name__}")
    arrays = {name: _prepare_tensor(name, array) for name, array in tensors.items()}
    meta_text = encode_meta(meta)
    header = {
        META_KEY: meta_text,
        FORMAT_KEY: str(FORMAT_VERSION),
        CHECKSUM_KEY: _checksum(meta_text, arrays),
    }
    atomic_write_bytes(path, save(arrays, metadata=header))


def _prepare_tensor(name: Any, array: Any) -> np.ndarray:
    if not isinstance(name, str) or not name or name.startswith("__"):
        raise CheckpointError(f"invalid tensor name {name!r}")
    if not isinstance(array, np.ndarray):
        raise CheckpointError(f"tensor {name!r} is a {type(array).__name__}, not a numpy array")
    if array.dtype.name not in _SUPPORTED_DTYPES:
        raise CheckpointError(f"tensor {name!r} has dtype {array.dtype}, which checkpoints cannot store")
    little_endian = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return np.require(little_endian, requirements="C")  # keeps 0-d arrays 0-d


def _checksum(meta_text: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(meta_text.encode("utf-8"))
    for name in sorted(arrays):
        array = arrays[name]
        record = json.dumps([name, array.dtype.str, list(array.shape), array.nbytes])
        digest.update(record.encode("utf-8") + b"\n")
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike, expected_kind: str | None = None
                    ) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``; return ``(tensors, meta)``.

    Raises ``CheckpointError`` (one line naming the file) if the file is
    missing, truncated or damaged, foreign (pickle, PyTorch ``.pt``, random
    bytes, safetensors without stepgrad metadata), from a newer format, or —
    with ``expected_kind`` — holds a different model kind.
    """
    path = Path(path)
    try:
        tensors, meta = _read(path)
    except CheckpointError as error:
        raise CheckpointError(f"cannot load checkpoint {path}: {error}") from None
    if expected_kind is not None:
        check_compatible(meta, expected_kind, path)
    return tensors, meta


def check_compatible(meta: dict, expected_kind: str, path: str | os.PathLike = "checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``meta["kind"]`` is ``expected_kind``."""
    kind = meta.get("kind")
    if kind is None:
        raise CheckpointError(f"{path} does not say which model it holds (no 'kind' in its metadata)")
    if kind != expected_kind:
        raise CheckpointError(f"{path} holds a {kind} model, not a {expected_kind} model")


def _read(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    if not path.exists():
        raise CheckpointError("file not found")
    if path.is_dir():
        raise CheckpointError("it is a directory, not a file")
    if path.stat().st_size == 0:
        raise CheckpointError("the file is empty")
    header, tensors = _open_safetensors(path)
    if META_KEY not in header:
        raise CheckpointError("not a stepgrad checkpoint (safetensors file without stepgrad metadata)")
    _check_version(header.get(FORMAT_KEY))
    if header.get(CHECKSUM_KEY) != _checksum(header[META_KEY], tensors):
        raise CheckpointError("checksum mismatch: the file is damaged")
    try:
        meta = decode_meta(header[META_KEY])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"damaged metadata ({error})") from None
    if not isinstance(meta, dict):
        raise CheckpointError("damaged metadata (not a JSON object)")
    return tensors, meta


def _open_safetensors(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    from safetensors import safe_open

    try:
        foreign = _sniff_foreign(path)
        if foreign:
            raise CheckpointError(f"not a stepgrad checkpoint (looks like {foreign})")
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except CheckpointError:
        raise
    except OSError as error:
        raise CheckpointError(f"cannot read it ({error.strerror or error})") from None
    except Exception as error:  # safetensors raises its own SafetensorError
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"not a valid safetensors file, truncated or damaged ({reason})") from None
    return header, tensors


def _sniff_foreign(path: Path) -> str | None:
    """Name a well-known foreign format from the first bytes, else None."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, e.g. a PyTorch .pt file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    return None


def _check_version(version: str | None) -> None:
    if version is None or not version.isdigit():
        raise CheckpointError(f"damaged metadata (format version {version!r})")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"written by a newer stepgrad (format {version}; this version reads up to {FORMAT_VERSION})")
