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
from models.checkpoint import CheckpointError, CheckpointFile, restore_rng, save_checkpoint
from models.checkpoint_meaning import MODEL_PREFIX, OPTIM_PREFIX, check_resumable
from models.tokenizer import CharTokenizer
from models.train_config import TrainConfig, TrainError, data_path
from optim import flatten_state_dict, unflatten_state_dict


def save_run(path: Path, model, optimizer, batch_rng: np.random.Generator, step: int, config: TrainConfig,
             model_config, tokenizer: CharTokenizer, data_sha256: str) -> None:
    """Write the whole run to ``path`` (atomically; no pickle)."""
    tensors = {MODEL_PREFIX + name: array for name, array in model.state_dict().items()}
    optim_tensors, optim_meta = flatten_state_dict(optimizer.state_dict(), prefix=OPTIM_PREFIX)
    tensors.update(optim_tensors)
    meta = {
        "kind": config.model,
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(dataclasses.replace(config, data=data_path(config.data))),
        "tokenizer": tokenizer.to_dict(),
        "optimizer": optim_meta,
        "rng": {"engine": get_rng_state(), "batches": batch_rng.bit_generator.state},
        "step": step,
        "data_sha256": data_sha256,
    }
    save_checkpoint(path, tensors, meta)


def restore_run(opened: CheckpointFile, tensors: dict[str, np.ndarray], model, optimizer, step_limit: int
                ) -> tuple[int, np.random.Generator]:
    """Load weights, optimizer state and random streams from a checkpoint whose tensors have been read.

    ``model`` and ``optimizer`` are the run's, fresh from its checked config,
    and ``step_limit`` the saved run's ``steps``; everything the checkpoint
    holds is checked against them first
    (``models.checkpoint_meaning.check_resumable``).  Returns ``(step, batch
    generator)``; raises ``CheckpointError`` (one line) if the checkpoint does
    not fit this run.
    """
    meta, path = opened.meta, opened.path
    try:
        saved_optimizer = unflatten_state_dict(tensors, meta.get("optimizer"))
    except (TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path} has no usable optimizer state ({first_line(error)})") from None
    step = check_resumable({**meta, "optimizer": saved_optimizer}, step_limit, optimizer, path)
    try:
        model.load_state_dict(model_tensors(tensors))
        optimizer.load_state_dict(saved_optimizer)
        for group in optimizer.param_groups:  # checkpoints written before the schedule was a scheduler lack it
            group.setdefault("initial_lr", meta["train_config"]["lr"])
        set_rng_state(meta["rng"]["engine"])
        batch_rng = restore_rng(meta["rng"]["batches"])
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise CheckpointError(f"{path} does not match this run ({first_line(error)})") from None
    return step, batch_rng


def check_same_text(meta: dict, data_sha256: str, config: TrainConfig, path: Path) -> None:
    """``TrainError`` unless the checkpoint was trained on a text with this sha256."""
    if meta.get("data_sha256") != data_sha256:
        raise TrainError(f"the training text differs from the one {path} was trained on ({config.data} has "
                         "another sha256); resuming needs the same text (--data)")


def model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's weights among a checkpoint's tensors, under their own names."""
    return {name[len(MODEL_PREFIX):]: array for name, array in tensors.items() if name.startswith(MODEL_PREFIX)}


def first_line(error: Exception) -> str:
    """The first line of an error's message (its type name if it has none)."""
    return (str(error).splitlines() or [type(error).__name__])[0]
