"""The training loop of ``stepgrad train``: a character-level model, one step at a time.

It reads top to bottom like nanoGPT's ``train.py`` and follows the seed's
flowchart: initialise -> compute the loss -> done? stop -> gradient -> update
-> repeat.  Around that loop:

- the learning rate follows ``models.schedule.get_lr`` (linear warm-up, then
  cosine from ``lr`` to ``min_lr`` at the last step);
- ``metrics.jsonl`` in the output directory gets one line per step
  (``step``, ``loss``, ``lr``, ``ms`` and ``val_loss`` on eval steps);
- ``checkpoint.safetensors`` is written atomically at every eval, at the end
  and on Ctrl-C.  It holds the weights, the optimizer state, both configs, the
  tokenizer, the random generators and the step, so ``resume=True`` continues
  the run with exactly the losses an uninterrupted run would have had;
- ``loss.png`` plots the whole run when it ends.

Three random streams keep a run reproducible: the engine's generator
(``manual_seed(seed)``: initial weights, dropout), the training-batch
generator and a separate evaluation generator.  Evaluation always scores the
same ``eval_iters`` validation batches and never touches the other two streams,
so when and how often a run evaluates does not change its training losses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from engine import get_rng_state, manual_seed, no_grad, set_rng_state
from engine import nn
from models.checkpoint import CheckpointError, load_checkpoint, restore_rng, save_checkpoint
from models.data import CharDataset, DataError, load_text
from models.metrics import MetricsWriter, read_metrics
from models.plots import plot_loss_curve
from models.recipe import GPT_RECIPE
from models.registry import MODELS, build_model
from models.schedule import get_lr
from models.tokenizer import CharTokenizer, TokenizerError
from optim import CLOSURE_OPTIMIZERS, OPTIMIZERS, clip_grad_norm_, create, flatten_state_dict, unflatten_state_dict

CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
LOSS_PLOT = "loss.png"
LM_OPTIMIZERS = tuple(name for name in OPTIMIZERS if name not in CLOSURE_OPTIMIZERS)

#: Flags that size a model; each applies only to the models whose config has that field.
MODEL_FIELDS = ("n_layer", "n_head", "n_embd", "n_hidden", "dropout")

#: Defaults per model.  gpt's are nanoGPT's CPU recipe for tiny Shakespeare (models/recipe.py).
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "bigram": dict(steps=3000, batch_size=64, block_size=32, lr=1e-1, min_lr=1e-2, warmup_steps=100,
                   weight_decay=0.1, eval_interval=500, eval_iters=100),
    "mlp": dict(steps=3000, batch_size=64, block_size=16, n_embd=24, n_hidden=200, lr=1e-2, min_lr=1e-3,
                warmup_steps=100, weight_decay=0.1, eval_interval=500, eval_iters=50),
    "gpt": {key: getattr(GPT_RECIPE, key) for key in (
        "steps", "batch_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "lr", "min_lr",
        "warmup_steps", "weight_decay", "eval_interval", "eval_iters")},
}

#: Settings a resumed run may change; everything else comes from the checkpoint.
RESUMABLE_CHANGES = ("steps", "eval_interval", "eval_iters", "log_stats")


class TrainError(ValueError):
    """A training setup or run that cannot go on; the message is one line."""


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the run after a completed step; a checkpoint was written."""

    def __init__(self, step: int, out: Path):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out}")
        self.step, self.out = step, out


@dataclass
class TrainConfig:
    """Everything that defines a training run (the ``stepgrad train`` flags).

    The defaults are the GPT recipe's (``models.recipe``).  Model-size fields a
    model does not use (``n_layer`` for a bigram) stay None.  Build one with
    ``make_config`` to get the per-model defaults.
    """

    model: str = "gpt"
    data: str = "shakespeare"
    out: str = "stepgrad-out"
    steps: int = GPT_RECIPE.steps
    seed: int = 1337
    batch_size: int = GPT_RECIPE.batch_size
    block_size: int = GPT_RECIPE.block_size
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
    log_stats: bool = False


@dataclass
class TrainResult:
    """What ``train`` leaves behind."""

    model: nn.Module
    tokenizer: CharTokenizer
    step: int  # steps completed
    loss: float | None  # training loss of the last step run now (None if none ran)
    val_loss: float | None  # the last evaluation, if any
    out: Path
    ms_per_step: float | None  # median over the steps run now


def make_config(model: str = "gpt", **given: Any) -> TrainConfig:
    """A ``TrainConfig`` for ``model`` with the per-model defaults under the ``given`` values.

    ``None`` values count as not given.  Raises ``TrainError`` for an unknown
    model or optimizer, a size flag the model does not use (``n_layer`` for
    ``bigram``) or settings that cannot work together.
    """
    if model not in MODELS:
        raise TrainError(f"unknown model {model!r} (choose from {', '.join(MODELS)})")
    given = {key: value for key, value in given.items() if value is not None}
    used = set(MODELS[model].config_fields())
    for key in MODEL_FIELDS:
        if key in given and key not in used:
            raise TrainError(f"--{key.replace('_', '-')} does not apply to the {model} model")
    values = {**MODEL_DEFAULTS[model], **given}
    config = TrainConfig(model=model, **values)
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    """Raise ``TrainError`` for settings that cannot work together."""
    if config.optimizer not in LM_OPTIMIZERS:
        hint = " (it needs a full-batch closure; try it with stepgrad linreg)" \
            if config.optimizer in CLOSURE_OPTIMIZERS else ""
        raise TrainError(f"optimizer {config.optimizer!r} cannot train a language model{hint}; "
                         f"choose from {', '.join(LM_OPTIMIZERS)}")
    if config.min_lr > config.lr:
        raise TrainError(f"--min-lr {config.min_lr:g} is larger than --lr {config.lr:g}")
    if config.model == "gpt" and config.n_embd % config.n_head:
        raise TrainError(f"--n-embd {config.n_embd} must be a multiple of --n-head {config.n_head}")
    if config.eval_interval and config.eval_iters < 1:
        raise TrainError("--eval-iters must be at least 1 when --eval-interval is not 0")


def config_from_checkpoint(out: str | Path, **given: Any) -> TrainConfig:
    """The config of the run saved in ``out``, for ``--resume``.

    ``given`` holds the command line's flags (None: not given).  ``steps``,
    ``eval_interval``, ``eval_iters`` and ``log_stats`` may change; any other
    flag must match the saved run, else ``TrainError`` names it.
    """
    path = Path(out) / CHECKPOINT
    if not path.exists():
        raise TrainError(f"nothing to resume: {path} does not exist")
    _, meta = load_checkpoint(path)
    saved = _saved_config(meta, path)
    changes = {}
    for key, value in given.items():
        if value is None or key == "out":
            continue
        if key in RESUMABLE_CHANGES:
            changes[key] = value
        elif getattr(saved, key) != value:
            raise TrainError(f"--{key.replace('_', '-')} {value} differs from the run being resumed "
                             f"({getattr(saved, key)}); leave it out to resume")
    config = dataclasses.replace(saved, out=str(out), **changes)
    check_config(config)
    return config


def _saved_config(meta: dict, path: Path) -> TrainConfig:
    """The ``TrainConfig`` stored in a checkpoint's metadata."""
    stored = meta.get("train_config")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    if not isinstance(stored, dict) or not set(stored) <= known or meta.get("kind") not in MODELS:
        raise CheckpointError(f"{path} is not a stepgrad training checkpoint (no usable train config)")
    return TrainConfig(**stored)


# ---------------------------------------------------------------- the run

def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data`` until step ``config.steps``; see the module docstring.

    ``resume=True`` continues from ``config.out/checkpoint.safetensors``.
    ``progress`` shows a tqdm bar on stderr; ``echo`` prints the report lines
    (default: stdout, around the bar).  Raises ``TrainingInterrupted`` after a
    Ctrl-C (a checkpoint is written first), ``TrainError``, ``DataError`` or
    ``CheckpointError`` for problems the user can fix.
    """
    echo = echo or _echo
    check_config(config)
    out = prepare_out_dir(config.out)
    checkpoint = out / CHECKPOINT

    # ---- data: the text, its characters, train/val ids
    text = load_text(config.data)
    saved = load_checkpoint(checkpoint, expected_kind=config.model) if resume else None
    tokenizer = _saved_tokenizer(saved[1], checkpoint) if saved else CharTokenizer.from_text(text)
    try:
        dataset = CharDataset(text, config.val_fraction, tokenizer, source=config.data)
    except TokenizerError as error:
        raise DataError(f"{config.data} does not fit the checkpoint's vocabulary: {error}") from None
    dataset.check_block_size(config.block_size)
    data_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ---- initialise: model, optimizer, random streams (or restore them all)
    manual_seed(config.seed)
    model_config = model_config_for(config, tokenizer.vocab_size)
    model = build_model(config.model, model_config)
    optimizer = _make_optimizer(model, config)
    batch_rng = np.random.default_rng([config.seed, 1])
    step = 0
    if saved:
        step, batch_rng = _restore(saved, model, optimizer, data_sha256, checkpoint)
    if step >= config.steps:
        echo(f"{checkpoint} is at step {step} already; pass a larger --steps to train on")
        return TrainResult(model, tokenizer, step, None, None, out, None)
    if not resume and checkpoint.exists():
        echo(f"note: starting a new run in {out}; its old checkpoint will be replaced (--resume continues it)")

    def save() -> None:
        _save(checkpoint, model, optimizer, config, model_config, tokenizer, batch_rng, step, data_sha256)

    echo(_describe(config, model, dataset, resume, step))
    metrics = MetricsWriter(out / METRICS, append=resume, resume_step=step)
    optimizer.track_stats = config.log_stats
    bar = tqdm(total=config.steps, initial=step, unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=not progress, desc=config.model)
    loss_value = val_loss = None
    step_ms: list[float] = []
    # a diverging run is caught by the finite-loss check, with one clear message, not numpy warnings
    with metrics, bar, _DeferredInterrupt() as interrupt, np.errstate(invalid="ignore", over="ignore",
                                                                     divide="ignore"):
        while step < config.steps:  # done? stop
            # ---- one step: the loss, its gradient, the update
            start = time.perf_counter()
            lr = get_lr(step, config.lr, config.min_lr, config.warmup_steps, config.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y = dataset.get_batch("train", config.batch_size, config.block_size, batch_rng)  # (B, T), (B, T)
            logits, loss = model(x, y)  # (B, T, vocab), ()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                raise TrainError(f"the loss became {loss_value} at step {step + 1}; "
                                 f"try a smaller --lr (now {config.lr:g})")
            optimizer.zero_grad()
            loss.backward()  # gradient
            if config.grad_clip > 0:
                clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()  # update
            del logits, loss  # free this step's graph before the next one is built
            step += 1
            step_ms.append((time.perf_counter() - start) * 1e3)
            bar.set_postfix(_postfix(loss_value, lr, val_loss), refresh=False)
            bar.update(1)

            # ---- evaluate, log, save
            evaluating = config.eval_interval > 0 and (step % config.eval_interval == 0
                                                       or step == config.steps)
            step_val = evaluate(model, dataset, config) if evaluating else None
            if evaluating:
                val_loss = step_val
                echo(f"step {step}: train loss {loss_value:.4f}, val loss {val_loss:.4f}")
            extra = {"optim_stats": optimizer.last_step_stats()} if config.log_stats else {}
            metrics.write(step, loss_value, lr, step_ms[-1], step_val, **extra)
            if evaluating or interrupt.requested:
                save()
            if interrupt.requested:
                _plot(out, config)
                raise TrainingInterrupted(step, out)
    if not evaluating:
        save()
    _plot(out, config)
    echo(f"done: step {step}, train loss {loss_value:.4f}"
         + (f", val loss {val_loss:.4f}" if val_loss is not None else "")
         + f", {np.median(step_ms):.1f} ms/step; wrote {checkpoint.name}, {METRICS} and {LOSS_PLOT} in {out}")
    return TrainResult(model, tokenizer, step, loss_value, val_loss, out, float(np.median(step_ms)))


def evaluate(model: nn.Module, dataset: CharDataset, config: TrainConfig) -> float:
    """Mean loss over ``config.eval_iters`` fixed validation batches, in eval mode and without a graph.

    The batches come from their own generator, re-seeded on every call, so
    every evaluation of a run scores the same text.
    """
    rng = np.random.default_rng([config.seed, 2])
    model.eval()
    total = 0.0
    with no_grad():
        for _ in range(config.eval_iters):
            x, y = dataset.get_batch("val", config.batch_size, config.block_size, rng)  # (B, T), (B, T)
            total += model(x, y)[1].item()
    model.train()
    return total / config.eval_iters


def prepare_out_dir(out: str | Path) -> Path:
    """Create ``out`` if needed and check that files can be written there (``TrainError`` if not)."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise TrainError(f"cannot write to output directory {path}: {error.strerror or error}") from None
    return path


# ---------------------------------------------------------- building blocks

def model_config_for(config: TrainConfig, vocab_size: int):
    """The model's config dataclass (e.g. ``GPTConfig``) from a run's size fields and the vocabulary size."""
    spec = MODELS[config.model]
    sizes = {key: getattr(config, key) for key in spec.config_fields()
             if hasattr(config, key) and getattr(config, key) is not None}
    return spec.config_cls(vocab_size=vocab_size, **sizes)


def _make_optimizer(model, config: TrainConfig):
    """The run's optimizer over nanoGPT's groups (weight decay on matrices only); betas where it takes them."""
    kwargs = {"lr": config.lr}
    if config.optimizer in ("adam", "adamw"):
        kwargs["betas"] = tuple(config.betas)
    return create(config.optimizer, model.configure_optimizer_groups(config.weight_decay), **kwargs)


def _save(path: Path, model, optimizer, config: TrainConfig, model_config, tokenizer: CharTokenizer,
          batch_rng: np.random.Generator, step: int, data_sha256: str) -> None:
    """Write the whole run state to ``path`` (atomically; no pickle)."""
    tensors = {f"model.{name}": array for name, array in model.state_dict().items()}
    optim_tensors, optim_skeleton = flatten_state_dict(optimizer.state_dict(), prefix="optim.")
    tensors.update(optim_tensors)
    meta = {
        "kind": config.model,
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(config),
        "tokenizer": tokenizer.to_dict(),
        "optimizer": optim_skeleton,
        "rng": {"engine": get_rng_state(), "batches": batch_rng.bit_generator.state},
        "step": step,
        "data_sha256": data_sha256,
    }
    save_checkpoint(path, tensors, meta)


def _restore(saved: tuple[dict, dict], model, optimizer, data_sha256: str, path: Path
             ) -> tuple[int, np.random.Generator]:
    """Load weights, optimizer state and random streams; return ``(step, batch generator)``."""
    tensors, meta = saved
    if meta.get("data_sha256") != data_sha256:
        raise TrainError(f"the training text differs from the one {path} was trained on; "
                         "resuming needs the same --data")
    try:
        model.load_state_dict(_model_tensors(tensors))
        optimizer.load_state_dict(unflatten_state_dict(tensors, meta["optimizer"]))
        set_rng_state(meta["rng"]["engine"])
        batch_rng = restore_rng(meta["rng"]["batches"])
        step = int(meta["step"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} does not match this run ({_first_line(error)})") from None
    return step, batch_rng


def _model_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name[len("model."):]: array for name, array in tensors.items() if name.startswith("model.")}


def _saved_tokenizer(meta: dict, path: Path) -> CharTokenizer:
    try:
        return CharTokenizer.from_dict(meta.get("tokenizer"))
    except TokenizerError as error:
        raise CheckpointError(f"{path} has no usable tokenizer ({error})") from None


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
    tokenizer = _saved_tokenizer(meta, path)
    try:
        model = build_model(kind, meta.get("model_config"))
        model.load_state_dict(_model_tensors(tensors))
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} does not hold a usable {kind} model ({_first_line(error)})") from None
    return model, tokenizer, meta


def default_prompt(tokenizer: CharTokenizer) -> str:
    """The prompt when none is given: a newline if the vocabulary has one, else its first character."""
    return "\n" if "\n" in tokenizer.chars else tokenizer.chars[0]


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _plot(out: Path, config: TrainConfig) -> None:
    """Draw ``loss.png`` from the whole metrics file (earlier runs of a resumed run included)."""
    records = read_metrics(out / METRICS) if (out / METRICS).exists() else []
    if records:
        plot_loss_curve(records, out / LOSS_PLOT, title=f"{config.model} on {Path(config.data).name}")


def _describe(config: TrainConfig, model, dataset: CharDataset, resume: bool, step: int) -> str:
    action = f"resuming at step {step} of {config.steps}" if resume else f"{config.steps} steps"
    return (f"training {config.model} ({model.num_parameters():,} parameters) on {config.data}: "
            f"{len(dataset.train):,} train / {len(dataset.val):,} val characters, vocabulary "
            f"{dataset.tokenizer.vocab_size}; {action}, batch {config.batch_size} x {config.block_size}, "
            f"{config.optimizer} lr {config.lr:g} -> {config.min_lr:g}")


def _postfix(loss: float, lr: float, val_loss: float | None) -> dict[str, str]:
    postfix = {"loss": f"{loss:.4f}", "lr": f"{lr:.2e}"}
    if val_loss is not None:
        postfix["val"] = f"{val_loss:.4f}"
    return postfix


def _echo(line: str) -> None:
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


class _DeferredInterrupt:
    """Turn the first Ctrl-C into a flag the loop checks after each step; a second one stops at once.

    Only the main thread receives signals, elsewhere this does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "_DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
