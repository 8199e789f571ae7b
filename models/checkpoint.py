"""Checkpoints: safetensors files with JSON metadata, written atomically.

A checkpoint is one safetensors file.  Arrays are stored as tensors under
namespaced names (``model.wte.weight``, ``optim.state.0.exp_avg``); everything
else (model kind and config, tokenizer, optimizer hyperparameters, RNG states,
training step) is a JSON document stored in the safetensors header metadata.

The file is written and read here, not by the safetensors library, so that a
file is checked before anything in it is believed: the header may be at most
``MAX_HEADER_BYTES``, its JSON (and the metadata's) at most ``MAX_JSON_DEPTH``
deep with at most ``MAX_JSON_VALUES`` values and no repeated key; every tensor
must have a supported dtype and a shape whose size matches its byte range, and
the byte ranges must tile the data exactly (no gap, overlap or range past the
end).  ``open_checkpoint`` checks all of that reading only the header, so the
metadata can be checked for meaning against the tensors' shapes before any
tensor is read (``models.checkpoint_meaning``); ``read_tensors`` then reads the
data and verifies the checksum.  The files are ordinary safetensors files.

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
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.files import FileCheckError, open_regular_file, write_atomically

FORMAT_VERSION = 1
META_KEY = "stepgrad"
FORMAT_KEY = "stepgrad.format"
CHECKSUM_KEY = "stepgrad.sha256"
_TUPLE_TAG = "__tuple__"
_DICT_TAG = "__dict__"
#: safetensors' dtype names -> numpy's, for the dtypes checkpoints store (little-endian)
DTYPES = {
    "BOOL": "bool", "I8": "int8", "U8": "uint8", "I16": "int16", "U16": "uint16", "I32": "int32",
    "U32": "uint32", "I64": "int64", "U64": "uint64", "F16": "float16", "F32": "float32", "F64": "float64",
    "C64": "complex64",
}
_SAFETENSORS_NAMES = {numpy_name: name for name, numpy_name in DTYPES.items()}
MAX_HEADER_BYTES = 8 * 2**20  # stepgrad's own headers are a few kB (a 1000-layer GPT: about 4 MB)
MAX_JSON_DEPTH = 64  # stepgrad's metadata nests about 8 deep
MAX_JSON_VALUES = 1_000_000  # values in the header, or in the metadata
_SIZE_FIELD = struct.Struct("<Q")  # the header's length, the file's first 8 bytes
_ALIGN = 8  # safetensors pads its header with spaces to a multiple of 8 bytes
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
    except (TypeError, ValueError, KeyError, OverflowError) as error:
        raise CheckpointError(f"damaged random generator state ({_first_line(error)})") from None
    return np.random.Generator(bit_generator)


# ---------------------------------------------------------------- JSON codec

def encode_meta(meta: Any) -> str:
    """Serialize ``meta`` to JSON text, tagging tuples and non-string dict keys."""
    return json.dumps(_tag(meta, "meta"), separators=(",", ":"))


def decode_meta(text: str) -> Any:
    """Inverse of ``encode_meta``.

    ``ValueError`` for text too deep or too large to be stepgrad's (see ``parse_json``).
    """
    return _untag(parse_json(text, "metadata"))


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_CHUNK = 1 << 16


def parse_json(text: str, what: str) -> Any:
    """``json.loads(text)``, refusing (``ValueError``) nesting deeper than ``MAX_JSON_DEPTH``, more than
    ``MAX_JSON_VALUES`` values, or an object that repeats a key.

    The bounds are checked on the text before it is parsed, from its brackets and
    commas outside strings, so a hostile text costs neither deep recursion nor
    memory beyond a small multiple of its size.
    """
    skeleton = _JSON_STRING.sub(b'""', text.encode("utf-8", errors="surrogatepass"))
    values = skeleton.count(b",") + skeleton.count(b"[") + skeleton.count(b"{") + 1
    if values > MAX_JSON_VALUES:
        raise ValueError(f"{what} holds more than {MAX_JSON_VALUES:,} JSON values")
    if _depth(skeleton.translate(None, _NOT_BRACKETS)) > MAX_JSON_DEPTH:
        raise ValueError(f"{what} nests JSON deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as error:
        if "integer string conversion" in str(error):  # Python's own bound on the digits of an int
            raise ValueError(f"{what} holds a number of more than {sys.get_int_max_str_digits():,} digits") from None
        raise


def _depth(brackets: bytes) -> int:
    """The deepest nesting of a string made only of brackets, counted a chunk at a time."""
    depth = deepest = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = np.frombuffer(brackets, np.uint8, count=min(_CHUNK, len(brackets) - start), offset=start)
        running = depth + np.cumsum(1 - 2 * ((chunk == ord("]")) | (chunk == ord("}"))), dtype=np.int64)
        deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {repeated!r} appears twice in one JSON object")
    return result


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
    ints and numpy scalars allowed).  The file replaces ``path`` in one step;
    the arrays go to it straight from memory, without a copy of the whole file.
    """
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint meta must be a dict, not {type(meta).__name__}")
    arrays = {name: _prepare_tensor(name, tensors[name]) for name in sorted(tensors)}
    meta_text = encode_meta(meta)
    metadata = {
        META_KEY: meta_text,
        FORMAT_KEY: str(FORMAT_VERSION),
        CHECKSUM_KEY: _checksum(meta_text, arrays),
    }
    header, offset = {"__metadata__": metadata}, 0
    for name, array in arrays.items():
        header[name] = {"dtype": _SAFETENSORS_NAMES[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % _ALIGN)

    def write(f: BinaryIO) -> None:
        f.write(_SIZE_FIELD.pack(len(header_bytes)))
        f.write(header_bytes)
        for array in arrays.values():
            if array.size:
                f.write(memoryview(array.reshape(-1)).cast("B"))

    write_atomically(path, write)


def _prepare_tensor(name: Any, array: Any) -> np.ndarray:
    if not isinstance(name, str) or not name or name.startswith("__"):
        raise CheckpointError(f"invalid tensor name {name!r}")
    if not isinstance(array, np.ndarray):
        raise CheckpointError(f"tensor {name!r} is a {type(array).__name__}, not a numpy array")
    if array.dtype.name not in _SAFETENSORS_NAMES:
        raise CheckpointError(f"tensor {name!r} has dtype {array.dtype}, which checkpoints cannot store")
    little_endian = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return np.require(little_endian, requirements="C")  # keeps 0-d arrays 0-d


def _checksum(meta_text: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(meta_text.encode("utf-8", errors="surrogatepass"))
    for name in sorted(arrays):
        array = arrays[name]
        record = json.dumps([name, array.dtype.str, list(array.shape), array.nbytes])
        digest.update(record.encode("utf-8", errors="surrogatepass") + b"\n")
        digest.update(memoryview(array.reshape(-1)).cast("B") if array.size else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as the header describes it: numpy dtype, shape and byte range in the data section."""
    dtype: np.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class CheckpointFile:
    """A checkpoint whose header has been read and checked; no tensor data has been read yet.

    ``meta`` is the decoded metadata and ``specs`` the dtype, shape and place of
    every tensor, so the metadata can be checked against the shapes before
    anything is allocated.  ``read_tensors()`` reads the data and verifies the
    checksum.
    """
    path: Path
    meta: dict
    specs: dict[str, TensorSpec]
    header: bytes  # the file's first bytes up to the data, to make sure read_tensors reads the same file
    meta_text: str
    checksum: str
    data_size: int

    def shapes(self, prefix: str = "") -> dict[str, tuple[int, ...]]:
        """{name without ``prefix``: shape} of the tensors whose names start with ``prefix``."""
        return {name[len(prefix):]: spec.shape for name, spec in self.specs.items() if name.startswith(prefix)}

    def read_tensors(self) -> dict[str, np.ndarray]:
        """Every tensor, as writable arrays; ``CheckpointError`` if the file changed or its checksum is wrong."""
        try:
            with open_regular_file(self.path) as f:
                if f.read(len(self.header)) != self.header:
                    raise CheckpointError("the file changed while it was being read")
                data = bytearray(self.data_size)
                if f.readinto(data) != self.data_size:
                    raise CheckpointError("the file changed while it was being read")
        except OSError as error:
            raise CheckpointError(f"cannot load checkpoint {self.path}: {error.strerror or error}") from None
        except CheckpointError as error:
            raise CheckpointError(f"cannot load checkpoint {self.path}: {error}") from None
        tensors = {name: _view(data, spec) for name, spec in self.specs.items()}
        if self.checksum != _checksum(self.meta_text, tensors):
            raise CheckpointError(f"cannot load checkpoint {self.path}: checksum mismatch: the file is damaged")
        return tensors


def _view(data: bytearray, spec: TensorSpec) -> np.ndarray:
    """The array ``spec`` describes, sharing ``data``'s memory."""
    count = _size(spec.shape)
    if count == 0:
        return np.zeros(spec.shape, spec.dtype)
    return np.frombuffer(data, dtype=spec.dtype, count=count, offset=spec.begin).reshape(spec.shape)


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def open_checkpoint(path: str | os.PathLike) -> CheckpointFile:
    """Read and check the header of a checkpoint written by ``save_checkpoint`` (see the module docstring).

    Raises ``CheckpointError`` (one line naming the file) if the file is
    missing, not a regular file, truncated or damaged, foreign (pickle, PyTorch
    ``.pt``, random bytes, safetensors without stepgrad metadata), from a newer
    format, or breaks one of the bounds.
    """
    path = Path(path)
    try:
        return _open(path)
    except CheckpointError as error:
        raise CheckpointError(f"cannot load checkpoint {path}: {error}") from None


def load_checkpoint(path: str | os.PathLike, expected_kind: str | None = None
                    ) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``; return ``(tensors, meta)``.

    ``open_checkpoint`` then ``read_tensors``; with ``expected_kind``, a
    checkpoint of another model kind is refused before its tensors are read.
    """
    opened = open_checkpoint(path)
    if expected_kind is not None:
        check_compatible(opened.meta, expected_kind, opened.path)
    return opened.read_tensors(), opened.meta


def check_compatible(meta: dict, expected_kind: str, path: str | os.PathLike = "checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``meta["kind"]`` is ``expected_kind``."""
    kind = meta.get("kind")
    if kind is None:
        raise CheckpointError(f"{path} does not say which model it holds (no 'kind' in its metadata)")
    if kind != expected_kind:
        raise CheckpointError(f"{path} holds a {kind} model, not a {expected_kind} model")


def _open(path: Path) -> CheckpointFile:
    try:
        with open_regular_file(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise CheckpointError("the file is empty")
            start = f.read(_SIZE_FIELD.size)
            foreign = _sniff_foreign(start)
            if foreign:
                raise CheckpointError(f"not a stepgrad checkpoint (looks like {foreign})")
            if len(start) < _SIZE_FIELD.size:
                raise CheckpointError("not a valid safetensors file, truncated or damaged (shorter than 8 bytes)")
            (header_size,) = _SIZE_FIELD.unpack(start)
            if header_size > min(MAX_HEADER_BYTES, size - _SIZE_FIELD.size):
                raise CheckpointError(_header_size_problem(header_size, size))
            header = f.read(header_size)
    except FileNotFoundError:
        raise CheckpointError("file not found") from None
    except IsADirectoryError:
        raise CheckpointError("it is a directory, not a file") from None
    except FileCheckError as error:
        raise CheckpointError(f"it is {error.strerror}") from None
    except OSError as error:
        raise CheckpointError(f"cannot read it ({error.strerror or error})") from None
    if len(header) != header_size:
        raise CheckpointError("the file changed while it was being read")
    metadata, specs = _parse_header(header, size - _SIZE_FIELD.size - header_size)
    if META_KEY not in metadata:
        raise CheckpointError("not a stepgrad checkpoint (safetensors file without stepgrad metadata)")
    _check_version(metadata.get(FORMAT_KEY))
    checksum = metadata.get(CHECKSUM_KEY)
    if not isinstance(checksum, str) or not re.fullmatch(r"[0-9a-f]{64}", checksum):
        raise CheckpointError("damaged metadata (no checksum)")
    try:
        meta = decode_meta(metadata[META_KEY])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"damaged metadata ({_first_line(error)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError("damaged metadata (not a JSON object)")
    return CheckpointFile(path, meta, specs, start + header, metadata[META_KEY], checksum,
                          size - _SIZE_FIELD.size - header_size)


def _header_size_problem(header_size: int, size: int) -> str:
    if header_size > size - _SIZE_FIELD.size:
        return (f"not a valid safetensors file, truncated or damaged (its header claims {header_size:,} bytes; "
                f"the file has {size:,})")
    return f"its header is {header_size:,} bytes, more than the {MAX_HEADER_BYTES:,} a checkpoint may have"


def _parse_header(header: bytes, data_size: int) -> tuple[dict[str, str], dict[str, TensorSpec]]:
    """The metadata and tensor specs of a safetensors header, every field checked."""
    try:
        parsed = parse_json(header.decode("utf-8"), "the header")
    except (UnicodeDecodeError, ValueError) as error:
        raise CheckpointError(f"not a valid safetensors file, truncated or damaged ({_first_line(error)})") from None
    if not isinstance(parsed, dict):
        raise CheckpointError("not a valid safetensors file (its header is not a JSON object)")
    metadata = parsed.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError("not a valid safetensors file (its __metadata__ is not a map of strings)")
    specs = {name: _tensor_spec(name, entry) for name, entry in parsed.items()}
    position = 0
    for name, spec in sorted(specs.items(), key=lambda item: (item[1].begin, item[1].end)):
        if spec.begin != position:
            problem = "overlaps another" if spec.begin < position else "leaves a gap before it"
            raise CheckpointError(f"damaged tensor table: the data of {name!r} {problem}")
        position = spec.end
    if position != data_size:
        raise CheckpointError(f"not a valid safetensors file, truncated or damaged (its tensors take {position:,} "
                              f"bytes of data; the file holds {data_size:,})")
    return metadata, specs


def _tensor_spec(name: str, entry: Any) -> TensorSpec:
    if not name or name.startswith("__"):
        raise CheckpointError(f"damaged tensor table: invalid tensor name {name!r}")
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"damaged tensor table: the entry of {name!r} is not dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(f"tensor {name!r} has dtype {dtype!r}, which stepgrad checkpoints do not hold")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise CheckpointError(f"damaged tensor table: the shape of {name!r} is not a list of counts")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
            or offsets[0] > offsets[1]):
        raise CheckpointError(f"damaged tensor table: the data offsets of {name!r} are not a byte range")
    np_dtype = np.dtype(DTYPES[dtype]).newbyteorder("<")
    if _size(shape) * np_dtype.itemsize != offsets[1] - offsets[0]:
        raise CheckpointError(f"damaged tensor table: {name!r} of shape {tuple(shape)} and dtype {dtype} "
                              f"does not fill its {offsets[1] - offsets[0]:,} bytes")
    return TensorSpec(np_dtype, tuple(shape), offsets[0], offsets[1])


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _sniff_foreign(head: bytes) -> str | None:
    """Name a well-known foreign format from the first bytes, else None."""
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive, e.g. a PyTorch .pt file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle"
    return None


def _check_version(version: str | None) -> None:
    if version is None or not version.isdigit() or not version.isascii():
        raise CheckpointError(f"damaged metadata (format version {version!r})")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"written by a newer stepgrad (format {version}; this version reads up to {FORMAT_VERSION})")
