"""The settings of a training run: ``TrainConfig``, the defaults per model, and their checks.

``make_config`` gives a new run's config (the model's defaults under the given
flags); ``config_from_checkpoint`` gives the config of a run to resume (the
saved one, with only the settings a resumed run may change).  Both refuse
settings that cannot work with a ``TrainError`` whose message is one line.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.checkpoint import CheckpointError, open_checkpoint
from models.data import SHAKESPEARE
from models.recipe import GPT_RECIPE
from models.registry import MODELS
from models.rules import NONNEG_FLOAT, NONNEG_INT, POSITIVE_FLOAT, POSITIVE_INT, PROBABILITY, Rule
from optim import CLOSURE_OPTIMIZERS, OPTIMIZERS, OptimizerNotFound, get_optimizer, needs_closure

CHECKPOINT = "checkpoint.safetensors"  # in the run's --out directory
LM_OPTIMIZERS = tuple(name for name in OPTIMIZERS if name not in CLOSURE_OPTIMIZERS)

#: Flags that size a model; each applies only to the models whose config has that field.
MODEL_FIELDS = ("n_layer", "n_head", "n_embd", "n_hidden", "dropout")

#: Defaults per model.  gpt's are nanoGPT's CPU recipe for tiny Shakespeare (models/recipe.py).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "bigram": dict(steps=3000, batch_size=64, block_size=32, lr=1e-1, min_lr=1e-2, warmup_steps=100,
                   weight_decay=0.1, eval_interval=500, eval_iters=100),
    "mlp": dict(steps=3000, batch_size=64, seq_len=16, block_size=16, n_embd=24, n_hidden=200, lr=1e-2,
                min_lr=1e-3, warmup_steps=100, weight_decay=0.1, eval_interval=500, eval_iters=50),
    "gpt": {key: getattr(GPT_RECIPE, key) for key in (
        "steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "lr", "min_lr",
        "warmup_steps", "weight_decay", "eval_interval", "eval_iters")},
}

#: Settings a resumed run may change; everything else comes from the checkpoint.  ``data`` may name
#: another file only if it holds the same text (its sha256 is checked).
RESUMABLE_CHANGES = ("steps", "eval_interval", "eval_iters", "final_eval", "log_stats", "data")

#: What the last evaluation of a run scores: the whole validation split, or eval_iters random batches.
FINAL_EVALS = ("full", "sampled")

#: The rule of each number setting: the command line's (``models.rules``), also applied to a saved run's.
FIELD_RULES: dict[str, Rule] = {
    "steps": POSITIVE_INT, "seed": NONNEG_INT, "batch_size": POSITIVE_INT, "block_size": POSITIVE_INT,
    "n_layer": POSITIVE_INT, "n_head": POSITIVE_INT, "n_embd": POSITIVE_INT, "n_hidden": POSITIVE_INT,
    "dropout": PROBABILITY, "lr": POSITIVE_FLOAT, "min_lr": NONNEG_FLOAT, "warmup_steps": NONNEG_INT,
    "weight_decay": NONNEG_FLOAT, "grad_clip": NONNEG_FLOAT, "eval_interval": NONNEG_INT,
    "eval_iters": POSITIVE_INT, "val_fraction": PROBABILITY,
}


class TrainError(ValueError):
    """A training setup or run that cannot go on; the message is one line."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (the ``stepgrad train`` flags).

    The defaults are the GPT recipe's (``models.recipe``).  Model-size fields a
    model does not use (``n_layer`` for a bigram) stay None.  Build one with
    ``make_config`` to get the per-model defaults.

    ``block_size`` is the context: the characters one prediction can see (GPT,
    MLP); Bigram and GPT train on windows of that many characters.  The MLP
    trains on rows of ``seq_len`` consecutive characters, each with its own
    context.  ``word_list`` says whether every line of the data is a word of
    its own (None: decided from the text, ``models.data.is_word_list``).
    ``final_eval`` is the kind of the run's last evaluation (``FINAL_EVALS``).
    """

    model: str = "gpt"
    data: str = "shakespeare"
    out: str = "stepgrad-out"
    steps: int = GPT_RECIPE.steps
    seed: int = 1337
    batch_size: int = GPT_RECIPE.batch_size
    block_size: int = GPT_RECIPE.block_size
    seq_len: int | None = None
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    n_hidden: int | None = None
    dropout: float | None = None
    optimizer: str = "adamw"
    lr: float = GPT_RECIPE.lr
    min_lr: float = GPT_RECIPE.min_lr
    warmup_steps: int = GPT_RECIPE.warmup_steps
    weight_decay: float = GPT_RECIPE.weight_decay
    grad_clip: float = GPT_RECIPE.grad_clip
    eval_interval: int = GPT_RECIPE.eval_interval
    eval_iters: int = GPT_RECIPE.eval_iters
    betas: tuple[float, float] = GPT_RECIPE.betas
    val_fraction: float = GPT_RECIPE.val_fraction
    word_list: bool | None = None
    final_eval: str = "full"
    log_stats: bool = False
    init_from: str | None = None  # a checkpoint whose weights (and sizes, vocabulary) start the run


def make_config(model: str = "gpt", **given: Any) -> TrainConfig:
    """A ``TrainConfig`` for ``model`` with the per-model defaults under the ``given`` values.

    ``None`` values count as not given.  Raises ``TrainError`` for an unknown
    model or optimizer, a size flag the model does not use (``n_layer`` for
    ``bigram``) or settings that cannot work together.
    """
    if model not in MODELS:
        raise TrainError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
    given = {key: value for key, value in given.items() if value is not None}
    values = {**MODEL_DEFAULTS[model], **given}
    config = TrainConfig(model=model, **values)
    check_config(config)
    optimizer_class(config)  # the user named it: import their module now, so a mistake is told before anything runs
    return config


def data_path(spec: str) -> str:
    """``--data`` as a checkpoint stores it: ``shakespeare``, or the file's absolute path.

    The absolute path lets ``--resume`` find the text from any working directory.
    """
    return spec if spec == SHAKESPEARE else os.path.abspath(spec)


def check_config(config: TrainConfig) -> None:
    """Raise ``TrainError`` for settings that break a rule (``FIELD_RULES``) or cannot work together."""
    if config.model not in MODELS:
        raise TrainError(f"unknown model {config.model!r} (choose from {', '.join(MODELS)})")
    used = set(MODELS[config.model].config_fields())
    for key, rule in FIELD_RULES.items():
        value = getattr(config, key)
        if value is None and key in MODEL_FIELDS and key not in used:
            continue
        if not rule.holds(value):
            raise TrainError(f"--{key.replace('_', '-')} {value!r} is not {rule.text}")
    for key in MODEL_FIELDS:
        if key not in used and getattr(config, key) is not None:
            raise TrainError(f"--{key.replace('_', '-')} does not apply to the {config.model} model")
    betas = config.betas
    if (not isinstance(betas, (tuple, list)) or len(betas) != 2
            or not all(PROBABILITY.holds(beta) for beta in betas)):
        raise TrainError(f"betas {betas!r} are not two numbers in [0, 1)")
    for key in ("data", "out", "init_from"):
        value = getattr(config, key)
        if (value is not None or key != "init_from") and (not isinstance(value, str) or not value):
            raise TrainError(f"--{key.replace('_', '-')} {value!r} is not a path")
    if not isinstance(config.log_stats, bool):
        raise TrainError(f"log_stats {config.log_stats!r} is not true or false")
    if not isinstance(config.optimizer, str) or not config.optimizer.strip():
        raise TrainError(f"optimizer {config.optimizer!r} is not an optimizer's name")
    if not is_code_spec(config.optimizer):  # a module:Class is imported only when it is needed (optimizer_class)
        optimizer_class(config)
    if config.min_lr > config.lr:
        raise TrainError(f"--min-lr {config.min_lr:g} is larger than --lr {config.lr:g}")
    if config.model == "gpt" and config.n_embd % config.n_head:
        raise TrainError(f"--n-embd {config.n_embd} must be a multiple of --n-head {config.n_head}")
    if config.eval_interval and config.val_fraction == 0:
        raise TrainError("evaluating (--eval-interval) needs a validation split, and val_fraction is 0")
    if config.model == "mlp" and not POSITIVE_INT.holds(config.seq_len):
        raise TrainError(f"--seq-len {config.seq_len!r} is not {POSITIVE_INT.text}")
    if config.model != "mlp" and config.seq_len is not None:
        raise TrainError(f"--seq-len does not apply to the {config.model} model (its sequences are --block-size long)")
    if config.word_list not in (None, True, False):
        raise TrainError(f"word_list {config.word_list!r} is not true, false or unset")
    if config.final_eval not in FINAL_EVALS:
        raise TrainError(f"--final-eval must be one of {', '.join(FINAL_EVALS)}, not {config.final_eval!r}")


def config_from_checkpoint(out: str | Path, **given: Any) -> TrainConfig:
    """The config of the run saved in ``out``, for ``--resume``.

    ``given`` holds the command line's flags (None: not given).  ``steps``,
    ``eval_interval``, ``eval_iters``, ``final_eval``, ``log_stats`` and ``data`` (a file with
    the same text) may change; any other flag must match the saved run, else
    ``TrainError`` names it.  Only the checkpoint's header is read; the saved
    settings must follow the command line's rules (``CheckpointError`` if not).
    """
    path = Path(out) / CHECKPOINT
    if not path.exists() and not path.is_symlink():
        raise TrainError(f"nothing to resume: {path} does not exist")
    saved = saved_config(open_checkpoint(path).meta, path)
    changes = {}
    for key, value in given.items():
        if value is None or key == "out":
            continue
        if key in RESUMABLE_CHANGES:
            changes[key] = value
        elif getattr(saved, key) != value:
            raise TrainError(f"--{key.replace('_', '-')} {value} differs from the run being resumed "
                             f"({getattr(saved, key)}); leave it out to resume")
    if is_code_spec(saved.optimizer) and given.get("optimizer") != saved.optimizer:
        raise TrainError(f"the run being resumed used the optimizer {saved.optimizer!r} from your own code; stepgrad "
                         f"imports no code a checkpoint names, so resume with --optimizer {saved.optimizer}")
    config = dataclasses.replace(saved, out=str(out), **changes)
    check_config(config)
    return config


def saved_config(meta: dict, path: Path) -> TrainConfig:
    """The ``TrainConfig`` stored in a checkpoint's metadata, checked by ``check_config``.

    ``CheckpointError`` if there is none, or if a saved setting breaks a rule.
    """
    stored = meta.get("train_config")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    kind = meta.get("kind")
    if not isinstance(stored, dict) or not set(stored) <= known or kind not in MODELS:
        raise CheckpointError(f"{path} is not a stepgrad training checkpoint (no usable train config)")
    newer = {key: value for key, value in MODEL_DEFAULTS[kind].items() if key not in stored}  # settings it predates
    config = TrainConfig(**{**newer, **stored})
    if config.model != kind:
        raise CheckpointError(f"{path} holds a {kind} model but the settings of a {config.model} run")
    try:
        check_config(config)
    except TrainError as error:
        raise CheckpointError(f"{path} holds settings that cannot work: {error}") from None
    return config


def model_config_for(config: TrainConfig, vocab_size: int, pad_id: int | None = None):
    """The model's config dataclass (e.g. ``GPTConfig``) from a run's size fields and the vocabulary size.

    ``pad_id`` goes to a model that pads before the start of a text (the MLP):
    the run passes its newline, makemore's '.'.
    """
    spec = MODELS[config.model]
    sizes = {key: getattr(config, key) for key in spec.config_fields()
             if hasattr(config, key) and getattr(config, key) is not None}
    if "pad_id" in spec.config_fields():
        sizes["pad_id"] = pad_id
    return spec.config_cls(vocab_size=vocab_size, **sizes)


def is_code_spec(optimizer: str) -> bool:
    """True for ``module:Class`` or ``file.py:Class``: an optimizer in the user's own code."""
    return ":" in optimizer


def optimizer_class(config: TrainConfig):
    """The first-order optimizer class ``config.optimizer`` names: built in, installed, or module:Class.

    ``TrainError`` (one line) if it names none, or one whose step needs a closure.
    """
    try:
        cls = get_optimizer(config.optimizer)
    except OptimizerNotFound as error:
        raise TrainError(str(error)) from None
    if needs_closure(cls):
        raise TrainError(f"optimizer {config.optimizer!r} cannot train a language model: its step needs a closure "
                         f"that re-evaluates the loss on the whole data set (try it with stepgrad linreg); "
                         f"choose from {', '.join(LM_OPTIMIZERS)} or a first-order module:Class")
    return cls


def make_optimizer(model, config: TrainConfig):
    """The run's optimizer over nanoGPT's groups (weight decay on matrices only), with its betas if it takes them."""
    cls = optimizer_class(config)
    kwargs = {"lr": config.lr}
    if "betas" in inspect.signature(cls).parameters:
        kwargs["betas"] = tuple(config.betas)
    return cls(model.configure_optimizer_groups(config.weight_decay), **kwargs)
