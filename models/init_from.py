"""``stepgrad train --init-from FILE``: start a new run from the weights of a saved model.

Like nanoGPT's ``--init_from=gpt2``, the run begins at step 0 with a fresh
optimizer, but its model is the saved one: its kind, sizes and character
vocabulary come from ``FILE``, which is a stepgrad checkpoint (written by
``train`` or ``import``) or a nanoGPT ``ckpt.pt`` (read as ``stepgrad import``
reads it). The run's text must be written in the model's characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import nn
from models.nanogpt_import import read_nanogpt
from models.tokenizer import CharTokenizer
from models.trained import load_model

#: TrainConfig fields that a saved model fixes; dropout is the one size a fine-tuning run may change
MODEL_SIZE_FIELDS = ("block_size", "n_layer", "n_head", "n_embd", "n_hidden")


class InitFromError(ValueError):
    """A model to start from that cannot be used as asked; the message is one line."""


@dataclass
class InitSource:
    """A saved model to start a run from: its kind (``gpt``...), the model and its tokenizer."""
    kind: str
    model: nn.Module
    tokenizer: CharTokenizer


def load_source(path: str | Path) -> InitSource:
    """The model saved in ``path``: a stepgrad checkpoint, or a nanoGPT ``ckpt.pt`` (a zip archive)."""
    path = Path(path)
    if path.is_file() and _starts_with(path, b"PK\x03\x04"):  # torch.save's zip format
        model, tokenizer, _ = read_nanogpt(path)
        return InitSource("gpt", model, tokenizer)
    model, tokenizer, meta = load_model(path)
    return InitSource(meta["kind"], model, tokenizer)


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def sizes_from(source: InitSource, given: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``given`` (command-line flags, None: not given) with the saved model's kind and sizes filled in.

    A given ``--model`` or size flag that differs from the saved model is an ``InitFromError``.
    """
    config = source.model.config
    saved = {"model": source.kind,
             **{key: getattr(config, key) for key in MODEL_SIZE_FIELDS if hasattr(config, key)}}
    for key, value in saved.items():
        if given.get(key) is not None and given[key] != value:
            flag = "--" + key.replace("_", "-")
            raise InitFromError(f"{flag} {given[key]} differs from the model in {path} ({value}); "
                                "leave it out to fine-tune that model")
    return {**given, **saved}
