"""Character-level tokenizer: one token per distinct character of the corpus."""

from __future__ import annotations

import json
from typing import Iterable

import numpy as np

_SHOWN_UNKNOWN = 10  # unknown characters listed in an error message
_CHUNK = 1 << 20  # characters encoded at a time


class TokenizerError(ValueError):
    """Text or ids that the vocabulary cannot encode or decode; one-line message."""


class CharTokenizer:
    """Maps each character of a fixed vocabulary to its index (nanoGPT's shakespeare_char).

    ``chars`` is the vocabulary in id order; ``from_text`` builds it as the
    sorted set of characters of a corpus.
    """

    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise TokenizerError("a tokenizer needs a non-empty string of characters")
        if len(set(chars)) != len(chars):
            raise TokenizerError("tokenizer characters must be distinct")
        self.chars = chars
        codes = _code_points(chars)
        self._order = np.argsort(codes, kind="stable")
        self._sorted_codes = codes[self._order]

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """Build the vocabulary from the sorted set of characters in ``text``."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens."""
        return len(self.chars)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """Return the ids of ``text`` as an int64 array of shape ``(len(text),)``.

        A character outside the vocabulary raises ``TokenizerError``, e.g.
        ``prompt contains characters not in the vocabulary: 'é', '€'`` with
        ``what="prompt"``.
        """
        ids = np.empty(len(text), dtype=np.int64)
        for start in range(0, len(text), _CHUNK):  # a chunk at a time: a 100 MB text needs no GBs of temporaries
            piece = text[start:start + _CHUNK]
            codes = _code_points(piece)
            slots = np.searchsorted(self._sorted_codes, codes)
            slots = np.minimum(slots, len(self._sorted_codes) - 1)
            known = self._sorted_codes[slots] == codes
            if not known.all():
                raise TokenizerError(f"{what} contains characters not in the vocabulary: "
                                     + _describe_unknown(text, self))
            ids[start:start + len(piece)] = self._order[slots]
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Return the text of a sequence of ids (list, tuple or integer array)."""
        ids = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
        if ids.size == 0:
            return ""
        if ids.dtype.kind not in "iu":
            raise TokenizerError(f"token ids must be integers, not {ids.dtype}")
        bad = (ids < 0) | (ids >= self.vocab_size)
        if bad.any():
            raise TokenizerError(
                f"token id {int(ids[bad][0])} is out of range for a vocabulary of {self.vocab_size}")
        return "".join(self.chars[i] for i in ids.ravel().tolist())

    def to_dict(self) -> dict:
        """A JSON-ready description, for checkpoint metadata."""
        return {"type": "char", "chars": self.chars}

    @classmethod
    def from_dict(cls, data: dict) -> "CharTokenizer":
        """Inverse of ``to_dict``."""
        if not isinstance(data, dict) or data.get("type") != "char" or "chars" not in data:
            raise TokenizerError("not a character tokenizer description")
        return cls(data["chars"])

    def to_json(self) -> str:
        """``to_dict`` as JSON text."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "CharTokenizer":
        """Inverse of ``to_json``."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TokenizerError(f"tokenizer JSON is invalid ({error})") from None
        return cls.from_dict(data)


def _code_points(text: str) -> np.ndarray:
    """Unicode code points of ``text`` as an int64 array (lone surrogates allowed)."""
    raw = text.encode("utf-32-le", errors="surrogatepass")
    return np.frombuffer(raw, dtype="<u4").astype(np.int64)


def _describe_unknown(text: str, tokenizer: "CharTokenizer") -> str:
    """List the distinct characters of ``text`` outside the vocabulary, in order of first appearance."""
    vocabulary = set(tokenizer.chars)
    unknown = dict.fromkeys(c for c in text if c not in vocabulary)
    shown = ", ".join(repr(c) for c in list(unknown)[:_SHOWN_UNKNOWN])
    more = len(unknown) - _SHOWN_UNKNOWN
    return shown + (f" and {more} more" if more > 0 else "")
