"""A trained language model from its checkpoint: what ``stepgrad sample`` (and export, explore) start from."""

from __future__ import annotations

from pathlib import Path

from engine import nn
from models.checkpoint import CheckpointError, load_checkpoint
from models.registry import MODELS, build_model
from models.run_state import first_line, model_tensors, saved_tokenizer
from models.tokenizer import CharTokenizer


def load_model(path: str | Path) -> tuple[nn.Module, CharTokenizer, dict]:
    """The language model, tokenizer and metadata saved in a training checkpoint.

    Raises ``CheckpointError`` (one line) for a missing, damaged or foreign
    file, or one that holds no language model.
    """
    path = Path(path)
    tensors, meta = load_checkpoint(path)
    kind = meta.get("kind")
    if kind not in MODELS:
        raise CheckpointError(f"{path} holds no language model (kind {kind!r}; expected one of "
                              f"{', '.join(MODELS)})")
    tokenizer = saved_tokenizer(meta, path)
    try:
        model = build_model(kind, meta.get("model_config"))
        model.load_state_dict(model_tensors(tensors))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} does not hold a usable {kind} model ({first_line(error)})") from None
    return model, tokenizer, meta


def default_prompt(tokenizer: CharTokenizer) -> str:
    """The prompt when none is given: a newline if the vocabulary has one, else its first character."""
    return "\n" if "\n" in tokenizer.chars else tokenizer.chars[0]
