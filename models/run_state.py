"""What a training checkpoint holds, and how a run is saved into it and restored from it.

``checkpoint.safetensors`` (see ``models.checkpoint`` for the file format) holds
the model's weights as tensors ``model.<name>``, the optimizer's state as
tensors ``optim.state.<index>.<name>``, and as metadata: the model kind and
config, the run's ``TrainConfig``, the tokenizer, the optimizer's plain data,
the random generators, the step and the sha256 of the training text.  That is
everything a resumed run needs to continue with exactly the losses an
uninterrupted run would have had; the learning-rate schedule is a function of
the step, so the step restores it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from engine import get_rng_state, set_rng_state
from models.checkpoint import CheckpointError, restore_rng, save_checkpoint
from models.tokenizer import CharTokenizer, TokenizerError
from models.train_config import TrainConfig, TrainError
from optim import flatten_state_dict, unflatten_state_dict

MODEL_PREFIX = "model."
OPTIM_PREFIX = "optim."


def save_run(path: Path, model, optimizer, batch_rng: np.random.Generator, step: int, config: TrainConfig,
             model_config, tokenizer: CharTokenizer, data_sha256: str) -> None:
    """Write the whole run to ``path`` (atomically; no pickle)."""
    tensors = {MODEL_PREFIX + name: array for name, array in model.state_dict().items()}
    optim_tensors, optim_meta = flatten_state_dict(optimizer.state_dict(), prefix=OPTIM_PREFIX)
    tensors.update(optim_tensors)
    meta = {
        "kind": config.model,
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(config),
        "tokenizer": tokenizer.to_dict(),
        "optimizer": optim_meta,
        "rng": {"engine": get_rng_state(), "batches": batch_rng.bit_generator.state},
        "step": step,
        "data_sha256": data_sha256,
    }
    save_checkpoint(path, tensors, meta)


def restore_run(saved: tuple[dict, dict], model, optimizer, data_sha256: str, path: Path
                ) -> tuple[int, np.random.Generator]:
    """Load weights, optimizer state and random streams from ``saved`` (tensors, meta).

    Returns ``(step, batch generator)``.  Raises ``TrainError`` if the run was
    trained on another text and ``CheckpointError`` (one line) if the
    checkpoint does not fit this run.
    """
    tensors, meta = saved
    if meta.get("data_sha256") != data_sha256:
        raise TrainError(f"the training text differs from the one {path} was trained on; "
                         "resuming needs the same --data")
    try:
        model.load_state_dict(model_tensors(tensors))
        optimizer.load_state_dict(unflatten_state_dict(tensors, meta["optimizer"]))
        for group in optimizer.param_groups:  # checkpoints written before the schedule was a scheduler lack it
            group.setdefault("initial_lr", meta["train_config"]["lr"])
        set_rng_state(meta["rng"]["engine"])
        batch_rng = restore_rng(meta["rng"]["batches"])
        step = int(meta["step"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} does not match this run ({first_line(error)})") from None
    return step, batch_rng


def model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's weights among a checkpoint's tensors, under their own names."""
    return {name[len(MODEL_PREFIX):]: array for name, array in tensors.items() if name.startswith(MODEL_PREFIX)}


def saved_tokenizer(meta: dict, path: Path) -> CharTokenizer:
    """The tokenizer stored in a checkpoint's metadata (``CheckpointError`` if it is missing or damaged)."""
    try:
        return CharTokenizer.from_dict(meta.get("tokenizer"))
    except TokenizerError as error:
        raise CheckpointError(f"{path} has no usable tokenizer ({error})") from None


def first_line(error: Exception) -> str:
    """The first line of an error's message (its type name if it has none)."""
    return (str(error).splitlines() or [type(error).__name__])[0]
