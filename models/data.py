"""Text corpora and random training batches for the character-level models.

``load_text("shakespeare")`` gives tiny Shakespeare (downloaded once into the
user's cache, checked by sha256); without network it falls back, with a
one-line notice, to a corpus of Python standard-library source.  Any other
spec is a path to a UTF-8 text file.  ``CharDataset`` encodes a text, splits it
into train/val and draws nanoGPT-style batches from a ``numpy.random.Generator``.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import sys
import sysconfig
import urllib.request
from pathlib import Path

import numpy as np

from engine.files import FileCheckError, atomic_write_bytes, read_regular_file
from models.tokenizer import CharTokenizer

SHAKESPEARE = "shakespeare"
SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_BYTES = 1_115_394
SHAKESPEARE_FILE = "tinyshakespeare.txt"
DOWNLOAD_TIMEOUT = 10.0

# The offline fallback: these stdlib modules first, in this order, then the
# remaining top-level modules sorted by name, until FALLBACK_CHARS is reached.
FALLBACK_MODULES = (
    "argparse", "calendar", "collections/__init__", "dataclasses", "difflib",
    "fractions", "functools", "heapq", "inspect", "json/decoder", "json/encoder",
    "pathlib", "pprint", "random", "shutil", "statistics", "string", "tempfile",
    "textwrap", "threading", "typing", "unittest/case", "zipfile",
)
FALLBACK_CHARS = SHAKESPEARE_BYTES
MAX_DATA_BYTES = 100_000_000  # 100 MB: enwik8, the largest classic character-level corpus, just fits
_CONTROL_CHARS = dict.fromkeys([c for c in range(32) if c != ord("\n")] + [127])


class DataError(ValueError):
    """A corpus or batch request the user can fix; the message is one line."""


# --------------------------------------------------------------- text sources

def load_text(spec: str, max_bytes: int = MAX_DATA_BYTES) -> str:
    """Return the corpus named by ``spec``: ``"shakespeare"`` or a UTF-8 text file path.

    Raises ``DataError`` for a missing path, a directory, anything but a
    regular file (a FIFO, a device such as ``/dev/zero``), a file larger than
    ``max_bytes``, an empty file or bytes that are not UTF-8.  (To read a file
    literally named ``shakespeare``, pass ``./shakespeare``.)
    """
    if spec == SHAKESPEARE:
        return shakespeare_text()
    return read_text_file(spec, max_bytes)


def read_text_file(path: str | os.PathLike, max_bytes: int = MAX_DATA_BYTES) -> str:
    """Read a non-empty UTF-8 regular file of at most ``max_bytes``, raising ``DataError`` with a one-line reason.

    The file is opened without blocking and only a regular file is read, so a
    FIFO or a device cannot hang the reader or feed it forever.
    """
    path = Path(path)
    try:
        raw = read_regular_file(path, max_bytes)
    except FileNotFoundError:
        raise DataError(f"data file not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"data path is a directory, not a text file: {path}") from None
    except FileCheckError as error:
        hint = " (raise the limit with --max-data-mb)" if error.errno == errno.EFBIG else ""
        raise DataError(f"data file {path} is {error.strerror}{hint}") from None
    except OSError as error:
        raise DataError(f"cannot read data file {path}: {error.strerror or error}") from None
    if not raw:
        raise DataError(f"data file is empty: {path}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"data file is not UTF-8 text (invalid byte 0x{raw[error.start]:02x} "
                        f"at byte offset {error.start}): {path}") from None


def cache_dir() -> Path:
    """The download cache: ``$STEPGRAD_CACHE``, else ``$XDG_CACHE_HOME/stepgrad``, else ``~/.cache/stepgrad``."""
    if os.environ.get("STEPGRAD_CACHE"):
        return Path(os.environ["STEPGRAD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stepgrad"


def shakespeare_text(url: str | None = None, cache: str | os.PathLike | None = None,
                     timeout: float = DOWNLOAD_TIMEOUT) -> str:
    """Return tiny Shakespeare from the cache, downloading and caching it if needed.

    ``url`` defaults to ``$STEPGRAD_SHAKESPEARE_URL`` or ``SHAKESPEARE_URL``;
    ``cache`` to ``cache_dir()``.  If the download fails (no network, or
    ``$STEPGRAD_OFFLINE`` is set) a one-line notice goes to stderr and the
    standard-library fallback corpus is returned.  Downloaded bytes with the
    wrong sha256 raise ``DataError`` and are not cached.
    """
    target = Path(cache if cache is not None else cache_dir()) / SHAKESPEARE_FILE
    cached = _read_verified(target)
    if cached is not None:
        return cached.decode("utf-8")
    url = url or os.environ.get("STEPGRAD_SHAKESPEARE_URL") or SHAKESPEARE_URL
    try:
        raw = _download(url, timeout)
    except ValueError as error:
        raise DataError(f"invalid download URL ({error}): {url}") from None
    except (OSError, http.client.HTTPException) as error:  # URLError and timeouts are OSErrors
        _notice(f"could not download tiny Shakespeare ({_reason(error)}); "
                "using Python standard-library source as the corpus instead")
        return fallback_text()
    if hashlib.sha256(raw).hexdigest() != SHAKESPEARE_SHA256:
        raise DataError(f"downloaded tiny Shakespeare has the wrong sha256 ({len(raw)} bytes); "
                        f"not using it: {url}")
    _store(target, raw)
    return raw.decode("utf-8")


def _read_verified(path: Path) -> bytes | None:
    """The cached corpus if present and intact, else None (a bad copy is re-downloaded)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return raw if hashlib.sha256(raw).hexdigest() == SHAKESPEARE_SHA256 else None


def _download(url: str, timeout: float) -> bytes:
    if os.environ.get("STEPGRAD_OFFLINE"):
        raise OSError("STEPGRAD_OFFLINE is set")
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read(SHAKESPEARE_BYTES + 1)


def _store(path: Path, raw: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, raw)
    except OSError as error:
        _notice(f"could not cache tiny Shakespeare in {path.parent} ({_reason(error)})")


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
    return (str(reason).splitlines() or [type(error).__name__])[0]


def _notice(message: str) -> None:
    print(f"stepgrad: {message}", file=sys.stderr)


def fallback_text(limit: int = FALLBACK_CHARS) -> str:
    """A deterministic ~1 MB corpus of Python standard-library source, printable ASCII only.

    Tabs become four spaces, other characters outside printable ASCII and
    newline are dropped; the text is cut at the last line end before ``limit``.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    pieces, size = [], 0
    for path in _fallback_files(stdlib):
        piece = _printable(path.read_text(encoding="utf-8", errors="ignore"))
        pieces.append(piece)
        size += len(piece)
        if size >= limit:
            break
    text = "".join(pieces)[:limit]
    text = text[: text.rfind("\n") + 1]
    if not text:
        raise DataError(f"no network and no Python sources under {stdlib}; pass a text file as --data")
    return text


def _fallback_files(stdlib: Path) -> list[Path]:
    chosen = [stdlib / f"{name}.py" for name in FALLBACK_MODULES]
    chosen = [path for path in chosen if path.is_file()]
    rest = sorted(path for path in stdlib.glob("*.py") if path not in chosen)
    return chosen + rest


def _printable(text: str) -> str:
    ascii_text = text.replace("\t", "    ").encode("ascii", "ignore").decode("ascii")
    return ascii_text.translate(_CONTROL_CHARS)


# ------------------------------------------------------------------- datasets

class CharDataset:
    """A text encoded with a ``CharTokenizer`` and split into train and val ids.

    The first ``1 - val_fraction`` of the ids (nanoGPT: ``int(0.9 * n)``) are
    ``train``, the rest ``val``; both are int64 arrays.  ``tokenizer`` defaults
    to one built from ``text``; ``source`` names the corpus in error messages.
    """

    def __init__(self, text: str, val_fraction: float = 0.1,
                 tokenizer: CharTokenizer | None = None, source: str = "corpus"):
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if not text:
            raise DataError(f"corpus is empty: {source}")
        self.source = source
        self.val_fraction = val_fraction
        self.tokenizer = tokenizer or CharTokenizer.from_text(text)
        data = self.tokenizer.encode(text)
        n_train = int(len(data) * (1.0 - val_fraction))
        self.train, self.val = data[:n_train], data[n_train:]

    def check_block_size(self, block_size: int) -> None:
        """Raise ``DataError`` unless every split holds at least ``block_size + 1`` ids."""
        if block_size < 1:
            raise DataError(f"block size must be at least 1, got {block_size}")
        splits = {"train": self.train, "val": self.val} if self.val_fraction > 0 else {"train": self.train}
        if any(len(ids) < block_size + 1 for ids in splits.values()):
            sizes = ", ".join(f"{name} split has {len(ids)}" for name, ids in splits.items())
            raise DataError(
                f"corpus too short for block size {block_size}: {sizes} characters; each needs "
                f"at least {block_size + 1} (block size + 1): {self.source}")

    def get_batch(self, split: str, batch_size: int, block_size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` random windows from ``split`` ("train" or "val").

        Returns int64 arrays ``x, y`` of shape ``(batch_size, block_size)``
        where ``y`` is ``x`` shifted by one character.  Offsets come from
        ``rng.integers(len(data) - block_size, size=batch_size)``, so batches
        follow the generator's state exactly.
        """
        if split not in ("train", "val"):
            raise DataError(f"split must be 'train' or 'val', got {split!r}")
        if split == "val" and self.val_fraction == 0:
            raise DataError(f"there is no val split (val_fraction is 0): {self.source}")
        self.check_block_size(block_size)
        data = self.train if split == "train" else self.val
        offsets = rng.integers(len(data) - block_size, size=batch_size)
        window = offsets[:, None] + np.arange(block_size)  # (B, T)
        return data[window], data[window + 1]
