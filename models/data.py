"""Text corpora and training batches for the character-level models.

``load_text("shakespeare")`` gives tiny Shakespeare, which ships inside the
package (``models/corpora/tinyshakespeare.txt.gz``, read through
``importlib.resources`` and checked against its published sha256), so it is
the same text on every machine, with or without a network.  Any other spec is
a path to a UTF-8 text file.

``CharDataset`` encodes a text and splits it into train and val ids.  A text
is one long sequence; a *word list* (one word per line, such as makemore's
``names.txt``) is many short ones: its words are shuffled once (Python's
``random.Random(42)``, as makemore does), split by word, and each word starts
a fresh context.  Two kinds of batch come out of it: nanoGPT's windows of
consecutive characters (``get_batch``: Bigram, GPT) and, for the MLP, the
characters to predict each with the context of characters before it
(``get_context_batch``), padded only where a text truly starts.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import random
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from engine.files import FileCheckError, read_regular_file
from models.tokenizer import CharTokenizer

SHAKESPEARE = "shakespeare"
SHAKESPEARE_RESOURCE = "corpora/tinyshakespeare.txt.gz"  # inside the models package
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # char-rnn's input.txt
WORD_SHUFFLE_SEED = 42  # makemore: random.seed(42); random.shuffle(words)
MAX_DATA_BYTES = 100_000_000  # 100 MB: enwik8, the largest classic character-level corpus, just fits


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


def shakespeare_text() -> str:
    """Tiny Shakespeare (1,115,394 characters) from the compressed copy inside the package.

    Raises ``DataError`` (one line) if the packaged file is missing or damaged.
    """
    try:
        packed = resources.files("models").joinpath(SHAKESPEARE_RESOURCE).read_bytes()
    except OSError as error:
        raise DataError(f"tiny Shakespeare is missing from the installed package ({error.strerror or error}); "
                        "reinstall stepgrad") from None
    return unpack_shakespeare(packed)


def unpack_shakespeare(packed: bytes) -> str:
    """The text of gzip-compressed tiny Shakespeare, if its sha256 is the published one (else ``DataError``)."""
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"the packaged tiny Shakespeare is damaged ({_first_line(error)}); "
                        "reinstall stepgrad") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise DataError(f"the packaged tiny Shakespeare is damaged (sha256 {digest[:16]}..., expected "
                        f"{SHAKESPEARE_SHA256[:16]}...); reinstall stepgrad")
    return raw.decode("utf-8")


def is_word_list(text: str) -> bool:
    """True if ``text`` is a word list: at least two lines, each a single word (not empty, no spaces)."""
    lines = text.splitlines()
    return len(lines) >= 2 and all(line.split() == [line] for line in lines)


def _one_per_line(words: list[str]) -> str:
    """The words of a word list as one text, each ended by a newline."""
    return "".join(word + "\n" for word in words)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


# ------------------------------------------------------------------- datasets

class CharDataset:
    """A text encoded with a ``CharTokenizer`` and split into train and val ids.

    A text is one sequence: its first ``1 - val_fraction`` (nanoGPT:
    ``int(0.9 * n)`` characters) is ``train``, the rest ``val``.  With
    ``word_list=True`` every line is a word of its own (see ``is_word_list``):
    the words are shuffled with ``random.Random(42)``, as makemore shuffles
    its names, the first ``1 - val_fraction`` of them are the training words,
    and each word is followed by a newline, which ends it.  ``train`` and
    ``val`` are int64 arrays, ``ids`` both of them in a row, ``starts`` the
    sorted positions in ``ids`` where a text starts (0 for a text, every word
    of a word list) and ``word_list`` which of the two it is.  ``tokenizer``
    defaults to one built from ``text``; ``source`` names the corpus in error
    messages.
    """

    def __init__(self, text: str, val_fraction: float = 0.1,
                 tokenizer: CharTokenizer | None = None, source: str = "corpus", word_list: bool = False):
        self.word_list = word_list
        if word_list:
            words = text.splitlines()
            random.Random(WORD_SHUFFLE_SEED).shuffle(words)
            n_train = int(len(words) * (1.0 - val_fraction))
            self._begin(_one_per_line(words), val_fraction, tokenizer, source)
            self._hold_words(words[:n_train], words[n_train:])
        else:
            self._begin(text, val_fraction, tokenizer, source)
            ids = self.tokenizer.encode(text)
            self._hold(ids, int(len(ids) * (1.0 - val_fraction)), np.zeros(1, dtype=np.int64))

    @classmethod
    def from_words(cls, train_words: list[str], val_words: list[str], tokenizer: CharTokenizer | None = None,
                   source: str = "word list") -> "CharDataset":
        """A word-list dataset with exactly these training and validation words, in this order (no shuffle)."""
        dataset = cls.__new__(cls)
        text = _one_per_line([*train_words, *val_words])
        dataset._begin(text, len(val_words) / max(1, len(train_words) + len(val_words)), tokenizer, source)
        dataset.word_list = True
        dataset._hold_words(train_words, val_words)
        return dataset

    def _begin(self, text: str, val_fraction: float, tokenizer: CharTokenizer | None, source: str) -> None:
        if not 0.0 <= val_fraction < 1.0:
            raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
        if not text:
            raise DataError(f"corpus is empty: {source}")
        self.source = source
        self.val_fraction = val_fraction
        self.tokenizer = tokenizer or CharTokenizer.from_text(text)

    def _hold_words(self, train_words: list[str], val_words: list[str]) -> None:
        words = [*train_words, *val_words]
        lengths = np.array([len(word) + 1 for word in words], dtype=np.int64)  # each word and its newline
        ends = np.cumsum(lengths)
        ids = self.tokenizer.encode(_one_per_line(words))
        n_train = int(ends[len(train_words) - 1]) if train_words else 0
        self._hold(ids, n_train, ends - lengths)

    def _hold(self, ids: np.ndarray, n_train: int, starts: np.ndarray) -> None:
        self.ids, self.n_train, self.starts = ids, n_train, starts
        self.train, self.val = ids[:n_train], ids[n_train:]

    def _split(self, split: str) -> np.ndarray:
        if split not in ("train", "val"):
            raise DataError(f"split must be 'train' or 'val', got {split!r}")
        if split == "val" and self.val_fraction == 0:
            raise DataError(f"there is no val split (val_fraction is 0): {self.source}")
        return self.train if split == "train" else self.val

    def _check_lengths(self, needed: int, setting: str) -> None:
        splits = {"train": self.train, "val": self.val} if self.val_fraction > 0 else {"train": self.train}
        if any(len(ids) < needed for ids in splits.values()):
            sizes = ", ".join(f"{name} split has {len(ids)}" for name, ids in splits.items())
            raise DataError(f"corpus too short for {setting}: {sizes} characters; each needs at least {needed}: "
                            f"{self.source}")

    def check_block_size(self, block_size: int) -> None:
        """Raise ``DataError`` unless every split holds at least ``block_size + 1`` ids."""
        if block_size < 1:
            raise DataError(f"block size must be at least 1, got {block_size}")
        self._check_lengths(block_size + 1, f"block size {block_size} (block size + 1)")

    def check_seq_len(self, seq_len: int) -> None:
        """Raise ``DataError`` unless every split holds at least ``seq_len`` characters to predict."""
        if seq_len < 1:
            raise DataError(f"sequence length must be at least 1, got {seq_len}")
        self._check_lengths(seq_len, f"sequence length {seq_len}")

    def get_batch(self, split: str, batch_size: int, block_size: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` random windows from ``split`` ("train" or "val").

        Returns int64 arrays ``x, y`` of shape ``(batch_size, block_size)``
        where ``y`` is ``x`` shifted by one character.  Offsets come from
        ``rng.integers(len(data) - block_size, size=batch_size)``, so batches
        follow the generator's state exactly.
        """
        data = self._split(split)
        self.check_block_size(block_size)
        offsets = rng.integers(len(data) - block_size, size=batch_size)
        window = offsets[:, None] + np.arange(block_size)  # (B, T)
        return data[window], data[window + 1]

    def get_context_batch(self, split: str, batch_size: int, seq_len: int, context: int, pad_id: int,
                          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``batch_size`` runs of ``seq_len`` consecutive characters of ``split`` to predict, with contexts.

        Returns ``x`` (batch_size, seq_len, context) and ``y`` (batch_size,
        seq_len): ``y[b, t]`` is a character of the split and ``x[b, t]`` the
        ``context`` characters before it (see ``contexts``).  Offsets come from
        ``rng.integers(len(split) - seq_len + 1, size=batch_size)``.
        """
        data = self._split(split)
        self.check_seq_len(seq_len)
        offsets = rng.integers(len(data) - seq_len + 1, size=batch_size)
        first = 0 if split == "train" else self.n_train
        positions = first + offsets[:, None] + np.arange(seq_len)  # (B, T) indices into ids
        return self.contexts(positions, context, pad_id), self.ids[positions]

    def contexts(self, positions: np.ndarray, context: int, pad_id: int) -> np.ndarray:
        """The ``context`` ids before each position of ``ids`` (any shape S) as an array (*S, context).

        They are the real characters before it, in order; where its text (the
        corpus, or its word in a word list) starts less than ``context``
        characters earlier, the missing ones are ``pad_id``.
        """
        positions = np.asarray(positions, dtype=np.int64)
        start = self.starts[np.searchsorted(self.starts, positions, side="right") - 1]  # (*S,) where its text starts
        before = positions[..., None] - context + np.arange(context)                    # (*S, context)
        return np.where(before >= start[..., None], self.ids[np.maximum(before, 0)], pad_id)

    def windows(self, split: str, block_size: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """The whole ``split`` as non-overlapping windows of ``block_size``, every target once, in order.

        Returns ``((x, y),)`` with ``x, y`` of shape (N, block_size), ``y``
        shifted by one, plus a second pair of shape (1, r) for the last ``r``
        targets when ``len(split) - 1`` is not a multiple of ``block_size``.
        """
        data = self._split(split)
        n_targets = len(data) - 1
        full = n_targets // block_size * block_size
        pieces = [(data[:full].reshape(-1, block_size), data[1:full + 1].reshape(-1, block_size))]
        if full < n_targets:
            pieces.append((data[full:n_targets][None], data[full + 1:][None]))
        return tuple(pieces)

    def positions(self, split: str) -> np.ndarray:
        """Every position of ``split`` in ``ids``, in order: the characters the MLP predicts."""
        first = 0 if split == "train" else self.n_train
        return np.arange(first, first + len(self._split(split)), dtype=np.int64)
