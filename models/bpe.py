"""GPT-2's byte-level BPE tokenizer from the files of a local Hugging Face folder, offline.

Text in and out of a GPT-2 (``stepgrad sample --pretrained DIR --prompt TEXT``)
goes through the optional ``tokenizers`` package (``pip install
'stepgrad[gpt2]'``), which reads ``tokenizer.json``, or ``vocab.json`` and
``merges.txt``, from the folder itself. (tiktoken's ``gpt2`` encoding would
download its files on first use, so it is not used.) Without the package, or
without those files, token ids still work: ``--ids``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.hf_gpt2 import PretrainedError

INSTALL_HINT = "pip install 'stepgrad[gpt2]', or give token ids with --ids"


class BPETokenizer:
    """A byte-level BPE tokenizer (a ``tokenizers.Tokenizer``) with stepgrad's encode/decode signature."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        """Number of tokens, added special tokens included."""
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, what: str = "text") -> np.ndarray:
        """The ids of ``text`` as an int64 array of shape ``(n,)``."""
        return np.array(self._tokenizer.encode(text).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of a sequence of ids."""
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)


def load_bpe(folder: str | Path) -> BPETokenizer:
    """The tokenizer in ``folder`` (``tokenizer.json``, else ``vocab.json`` + ``merges.txt``).

    Raises ``PretrainedError`` with one line saying what to install or which files are missing.
    """
    try:
        import tokenizers
    except ImportError:
        raise PretrainedError(f"text in and out of GPT-2 needs the tokenizers package: {INSTALL_HINT}") from None
    folder = Path(folder)
    try:
        if (folder / "tokenizer.json").is_file():
            return BPETokenizer(tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")))
        if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            bpe = tokenizers.ByteLevelBPETokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
            return BPETokenizer(bpe)
    except Exception as error:  # noqa: BLE001 - tokenizers raises its own exception types
        reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise PretrainedError(f"cannot read the tokenizer files in {folder} ({reason})") from None
    raise PretrainedError(f"{folder} has no tokenizer files (tokenizer.json, or vocab.json and merges.txt); "
                          "give token ids with --ids")
