"""A trained language model from its checkpoint: what ``stepgrad sample`` (and export, explore) start from."""

from __future__ import annotations

from pathlib import Path

from engine import nn
from models.checkpoint import open_checkpoint
from models.checkpoint_meaning import MODEL_PREFIX, check_finite, checked_model
from models.registry import build_model
from models.run_state import model_tensors
from models.sizes import check_fits, loading_estimate
from models.tokenizer import CharTokenizer


def load_model(path: str | Path) -> tuple[nn.Module, CharTokenizer, dict]:
    """The language model, tokenizer and metadata saved in a training checkpoint.

    Everything is checked before it is used (``models.checkpoint_meaning``): the
    model's config against the tensors' shapes and the tokenizer, before any
    tensor is read; the memory the model needs against the machine's; the
    weights for NaN and inf.  Raises ``CheckpointError`` (one line) for a
    missing, damaged, foreign or inconsistent file, or one that holds no
    language model; ``SizeError`` for a model that will not fit in memory.
    """
    model, tokenizer, meta, _ = load_model_and_tensors(path)
    return model, tokenizer, meta


def load_model_and_tensors(path: str | Path) -> tuple[nn.Module, CharTokenizer, dict, dict]:
    """``load_model``'s model, tokenizer and metadata, and every tensor of the file (the optimizer's
    state too), from one read of it."""
    opened = open_checkpoint(path)
    kind, config, tokenizer = checked_model(opened)
    check_fits(loading_estimate(config, opened.data_size), f"loading the {kind} model in {opened.path}")
    tensors = opened.read_tensors()
    check_finite(tensors, opened.path, MODEL_PREFIX)
    model = build_model(kind, config)
    model.load_state_dict(model_tensors(tensors))
    return model, tokenizer, opened.meta, tensors


def default_prompt(tokenizer: CharTokenizer) -> str:
    """The prompt when none is given: a newline if the vocabulary has one, else its first character."""
    return "\n" if "\n" in tokenizer.chars else tokenizer.chars[0]
