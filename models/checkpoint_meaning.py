"""A checkpoint's metadata checked for meaning before anything is built from it.

The checksum of a checkpoint only catches accidents: anyone can edit the
metadata and recompute it.  So nothing a checkpoint says is believed until it is
checked, and everything that sizes an allocation is checked before the
allocation, against what the file itself holds:

- the model's kind must be one of ``MODELS``, and its config must have that
  config's fields, each following its rule (positive sizes, a probability, ...);
- the config must agree with the tensors: the shapes it implies
  (``config.parameter_shapes()``) are compared one by one with the shapes in the
  file's header, stopping at the first difference, so a config claiming ten
  million layers costs one comparison, not ten million layers;
- the tokenizer must have exactly ``vocab_size`` characters;
- the weights must be finite numbers (``check_finite``, once they are read).

``check_resumable`` does the same for what only ``--resume`` uses: the step,
the optimizer's settings and state, and the random generators' states.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from engine import Tensor
from models.checkpoint import CheckpointError, CheckpointFile
from models.registry import MODELS
from models.rules import POSITIVE_INT, PROBABILITY
from models.tokenizer import CharTokenizer, TokenizerError

MODEL_PREFIX = "model."
OPTIM_PREFIX = "optim."

#: the rule of every field of the models' configs (``vocab_size`` is checked against the tokenizer too)
MODEL_FIELD_RULES = {
    "vocab_size": POSITIVE_INT.holds, "block_size": POSITIVE_INT.holds, "n_layer": POSITIVE_INT.holds,
    "n_head": POSITIVE_INT.holds, "n_embd": POSITIVE_INT.holds, "n_hidden": POSITIVE_INT.holds,
    "dropout": PROBABILITY.holds, "bias": lambda v: isinstance(v, bool),
    "gelu_approximate": lambda v: v in ("none", "tanh"),
    "pad_id": lambda v: v is None or (type(v) is int and v >= 0),
}
_RULE_TEXT = {"dropout": "a probability in [0, 1)", "bias": "true or false", "gelu_approximate": "'none' or 'tanh'",
              "pad_id": "a token id or null"}


def checked_model(opened: CheckpointFile) -> tuple[str, Any, CharTokenizer]:
    """``(kind, config dataclass, tokenizer)`` of the language model in ``opened``, all checked against its tensors.

    Reads no tensor data.  Raises ``CheckpointError`` (one line naming the file)
    if the checkpoint holds no language model, or if its config, tokenizer and
    tensors do not agree.
    """
    path, meta = opened.path, opened.meta
    kind = meta.get("kind")
    if kind not in MODELS:
        raise CheckpointError(f"{path} holds no language model (kind {_short(kind)}; expected one of "
                              f"{', '.join(MODELS)})")
    tokenizer = saved_tokenizer(meta, path)
    config = _model_config(MODELS[kind].config_cls, meta.get("model_config"), path)
    if config.vocab_size != tokenizer.vocab_size:
        raise CheckpointError(f"{path}: its model has a vocabulary of {config.vocab_size} but its tokenizer "
                              f"has {tokenizer.vocab_size} characters")
    if getattr(config, "pad_id", None) is not None and config.pad_id >= config.vocab_size:
        raise CheckpointError(f"{path}: its model config's pad_id {config.pad_id} is not a token id below "
                              f"its vocabulary of {config.vocab_size}")
    if kind == "gpt" and config.n_embd % config.n_head:
        raise CheckpointError(f"{path}: its model config's n_embd {config.n_embd} is not a multiple of "
                              f"n_head {config.n_head}")
    _check_shapes(config, opened, path)
    return kind, config, tokenizer


def saved_tokenizer(meta: dict, path: Path) -> CharTokenizer:
    """The tokenizer stored in a checkpoint's metadata (``CheckpointError`` if it is missing or damaged)."""
    try:
        return CharTokenizer.from_dict(meta.get("tokenizer"))
    except TokenizerError as error:
        raise CheckpointError(f"{path} has no usable tokenizer ({error})") from None


def _model_config(config_cls: type, stored: Any, path: Path):
    names = [f.name for f in fields(config_cls)]
    if not isinstance(stored, dict):
        raise CheckpointError(f"{path} has no model config")
    unknown = [key for key in stored if key not in names]
    if unknown:
        raise CheckpointError(f"{path}: its model config has unknown field {_short(unknown[0])}")
    for key, value in stored.items():
        if not MODEL_FIELD_RULES[key](value):
            rule = _RULE_TEXT.get(key, POSITIVE_INT.text)
            raise CheckpointError(f"{path}: its model config's {key} {_short(value)} is not {rule}")
    try:
        return config_cls(**stored)
    except TypeError:  # a field without a default is missing
        missing = [name for name in names if name not in stored]
        raise CheckpointError(f"{path}: its model config lacks {', '.join(missing)}") from None


def _check_shapes(config, opened: CheckpointFile, path: Path) -> None:
    """The tensors ``config`` implies must be exactly the file's ``model.*`` tensors, floating point."""
    stored = opened.shapes(MODEL_PREFIX)
    seen = 0
    for name, shape in config.parameter_shapes():
        if name not in stored:
            raise CheckpointError(f"{path}: its model config does not match its weights: the config implies "
                                  f"{MODEL_PREFIX}{name}, which the file does not hold")
        if stored[name] != shape:
            raise CheckpointError(f"{path}: its model config does not match its weights: the config implies "
                                  f"{MODEL_PREFIX}{name} of shape {shape}, the file holds {stored[name]}")
        if opened.specs[MODEL_PREFIX + name].dtype.kind != "f":
            raise CheckpointError(f"{path}: {MODEL_PREFIX}{name} holds {opened.specs[MODEL_PREFIX + name].dtype}, "
                                  "not floating-point weights")
        seen += 1
    if seen != len(stored):
        extra = next(name for name in stored if name not in dict(config.parameter_shapes()))
        raise CheckpointError(f"{path}: its model config does not match its weights: the file holds "
                              f"{MODEL_PREFIX}{extra}, which the config does not imply")


def check_finite(tensors: dict[str, np.ndarray], path: Path, prefix: str = "") -> None:
    """``CheckpointError`` naming the first floating-point tensor (name starting with ``prefix``) with a NaN or inf."""
    for name, array in tensors.items():
        if name.startswith(prefix) and array.dtype.kind in "fc" and not np.isfinite(array).all():
            what = "NaN" if np.isnan(array).any() else "infinite values"
            raise CheckpointError(f"{path}: {name} holds {what}; the checkpoint is unusable")


# ------------------------------------------------------------------ resuming

def check_resumable(meta: dict, step_limit: int, optimizer, path: Path) -> int:
    """The saved step, after checking everything ``--resume`` restores besides the weights; see the module docstring.

    ``step_limit`` is the saved run's ``steps``; ``optimizer`` is the run's
    optimizer, freshly made from its checked config: the saved one must have
    the same settings (its learning rates aside, which the schedule sets) and
    per-parameter state of the same kind.  Returns the step; raises
    ``CheckpointError`` (one line) for anything that does not fit.
    """
    step = meta.get("step")
    if type(step) is not int or not 0 <= step <= step_limit:
        raise CheckpointError(f"{path}: its step {_short(step)} is not a whole number from 0 to the run's "
                              f"{step_limit} steps")
    saved = meta.get("optimizer")
    if not isinstance(saved, dict) or set(saved) != {"state", "param_groups"}:
        raise CheckpointError(f"{path} has no usable optimizer state")
    _check_groups(saved["param_groups"], optimizer, path)
    _check_states(saved["state"], optimizer, step, path)
    rng = meta.get("rng")
    if not isinstance(rng, dict) or set(rng) != {"engine", "batches"}:
        raise CheckpointError(f"{path} has no usable random generator states")
    return step


def _check_groups(saved: Any, optimizer, path: Path) -> None:
    fresh = optimizer.param_groups
    if not isinstance(saved, list) or len(saved) != len(fresh):
        raise CheckpointError(f"{path}: its optimizer has {_count(saved)} parameter groups, this run's has "
                              f"{len(fresh)}")
    start = 0
    for i, (group, made) in enumerate(zip(saved, fresh)):
        if not isinstance(group, dict):
            raise CheckpointError(f"{path}: its optimizer's parameter group {i} is not a group")
        indices = list(range(start, start + len(made["params"])))
        start += len(made["params"])
        if group.get("params") != indices:
            raise CheckpointError(f"{path}: its optimizer's parameter group {i} does not hold this model's "
                                  "parameters")
        for key in sorted(set(group) | set(made), key=str):
            if key in ("params", "lr", "initial_lr"):
                continue
            if key not in made:
                raise CheckpointError(f"{path}: its optimizer has a setting {_short(key)} ({_short(group[key])}) "
                                      "that this run's optimizer does not have")
            if key not in group or group[key] != made[key]:
                raise CheckpointError(
                    f"{path}: its optimizer setting {_short(key)} is {_short(group.get(key, 'missing'))}, "
                    f"this run's is {_short(made[key])}")
        lr = group.get("lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr >= 0):
            raise CheckpointError(f"{path}: its optimizer's learning rate {_short(lr)} is not a number >= 0")
        if "initial_lr" in group and group["initial_lr"] != made["lr"]:
            raise CheckpointError(f"{path}: its optimizer's initial_lr {_short(group['initial_lr'])} is not the "
                                  f"run's --lr {made['lr']:g}")


def _check_states(saved: Any, optimizer, step: int, path: Path) -> None:
    """Each parameter's state must hold what this optimizer keeps, a step count no larger than the run's."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path}: its optimizer state is not a map of parameters")
    group_of = [i for i, group in enumerate(optimizer.param_groups) for _ in group["params"]]
    kept = [state_keys(optimizer, group) for group in optimizer.param_groups]
    for key, state in saved.items():
        index = key if type(key) is int else -1
        if not 0 <= index < len(params) or not isinstance(state, dict):
            raise CheckpointError(f"{path}: its optimizer state names parameter {_short(key)}, which this "
                                  f"model does not have")
        expected = kept[group_of[index]]
        if set(state) != expected:
            raise CheckpointError(f"{path}: its optimizer state of parameter {index} holds "
                                  f"{sorted(map(str, state))}, this optimizer keeps {sorted(expected)}")
        for name, value in state.items():
            if name == "step":
                if type(value) is not int or not 0 <= value <= step:
                    raise CheckpointError(f"{path}: its optimizer state of parameter {index} has step "
                                          f"{_short(value)}, not a whole number from 0 to the run's step {step}")
            elif not (isinstance(value, np.ndarray) and value.dtype.kind == "f"
                      and value.shape == params[index].shape):
                raise CheckpointError(f"{path}: its optimizer state {name!r} of parameter {index} is not an "
                                      f"array of the parameter's shape {params[index].shape}")


def state_keys(optimizer, group: dict) -> set[str]:
    """The names of the per-parameter state ``type(optimizer)`` keeps with ``group``'s settings.

    Found by one step of a fresh optimizer of the same class and settings on a
    one-number parameter, so it holds for any optimizer without a table of them.
    """
    probe = Tensor(np.zeros(1, np.float32), requires_grad=True)
    settings = {key: value for key, value in group.items() if key not in ("params", "param_names", "initial_lr")}
    trial = type(optimizer)([{"params": [probe], **settings}])
    probe.grad = Tensor(np.zeros(1, np.float32))
    trial.step()
    return set(trial.state[probe]) if probe in trial.state else set()


def _count(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else "no list of"


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a hostile value cannot flood the message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
