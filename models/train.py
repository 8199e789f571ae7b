"""The training loop of ``stepgrad train``: a character-level model, one step at a time.

It reads top to bottom like nanoGPT's ``train.py`` and follows the seed's
flowchart: initialise -> compute the loss -> done? stop -> gradient -> update
-> repeat.  The learning rate follows ``optim.lr_scheduler.WarmupCosineLR``
(linear warm-up, then a cosine from ``lr`` to ``min_lr`` at the last step).
The jobs around the loop have their own modules:

- ``models.train_config``: the settings (``TrainConfig``, defaults, checks, resume);
- ``models.run_state``: what ``checkpoint.safetensors`` holds, saving and restoring a run;
- ``models.train_report``: the lines the run prints and ``loss.png``;
- ``models.interrupt``: Ctrl-C finishes the step, saves, then stops.

The output directory gets ``metrics.jsonl`` (one line per step: ``step``,
``loss``, ``lr``, ``ms`` and ``val_loss`` on eval steps), a checkpoint at
every eval, at the end and on Ctrl-C (written atomically; ``resume=True``
continues the run with exactly the losses an uninterrupted run would have
had), and ``loss.png`` when the run ends.

Three random streams keep a run reproducible: the engine's generator
(``manual_seed(seed)``: initial weights, dropout), the training-batch
generator and a separate evaluation generator.  Evaluation always scores the
same ``eval_iters`` validation batches and never touches the other two streams,
so when and how often a run evaluates does not change its training losses.
"""

from __future__ import annotations

import hashlib
import math
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from engine import manual_seed, nn, no_grad
from models.checkpoint import CheckpointError, load_checkpoint
from models.data import CharDataset, DataError, load_text
from models.init_from import InitSource, load_source
from models.interrupt import DeferredInterrupt, TrainingInterrupted
from models.metrics import MetricsWriter
from models.registry import MODELS, build_model
from models.run_state import restore_run, save_run, saved_tokenizer
from models.tokenizer import CharTokenizer, TokenizerError
from models.train_config import (CHECKPOINT, TrainConfig, TrainError, check_config, make_config, make_optimizer,
                                 model_config_for)
from models.train_report import (DIVERGENCE_FACTOR, LOSS_PLOT, METRICS, describe, divergence_message, echo_line,
                                  plot_run, postfix)
from optim import clip_grad_norm_
from optim.lr_scheduler import WarmupCosineLR

__all__ = [
    "train", "evaluate", "prepare_out_dir", "claim_out_dir", "TrainResult", "TrainConfig", "TrainError",
    "make_config", "TrainingInterrupted", "CHECKPOINT", "METRICS", "LOSS_PLOT",
]


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


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] | None = None, overwrite: bool = False) -> TrainResult:
    """Train ``config.model`` on ``config.data`` until step ``config.steps``; see the module docstring.

    ``resume=True`` continues from ``config.out/checkpoint.safetensors``.  A new
    run refuses an output directory that holds another run's checkpoint unless
    ``overwrite=True``, which deletes that run's files first.  ``progress`` shows
    a tqdm bar on stderr; ``echo`` prints the report lines (default: stdout,
    around the bar).  Raises ``TrainingInterrupted`` after a Ctrl-C (a
    checkpoint is written first), ``TrainError``, ``DataError`` or
    ``CheckpointError`` for problems the user can fix; a loss that is not finite
    or above ``DIVERGENCE_FACTOR`` times ln(vocabulary size) is a ``TrainError``
    saying what to try.
    """
    echo = echo or echo_line
    check_config(config)
    out = prepare_out_dir(config.out)
    checkpoint = out / CHECKPOINT

    # ---- data: the text, its characters, train/val ids
    text = load_text(config.data)
    saved = load_checkpoint(checkpoint, expected_kind=config.model) if resume else None
    source = load_source(config.init_from) if config.init_from and not saved else None
    if saved:
        tokenizer = saved_tokenizer(saved[1], checkpoint)
    else:
        tokenizer = source.tokenizer if source else CharTokenizer.from_text(text)
    try:
        dataset = CharDataset(text, config.val_fraction, tokenizer, source=config.data)
    except TokenizerError as error:
        raise DataError(f"{config.data} does not fit the checkpoint's vocabulary: {error}") from None
    dataset.check_block_size(config.block_size)
    data_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    # ---- initialise: model, optimizer, random streams (or restore them all), learning-rate schedule
    manual_seed(config.seed)
    model_config = _model_config(config, tokenizer.vocab_size, saved, source)
    model = build_model(config.model, model_config)
    if source:
        model.load_state_dict(source.model.state_dict())
    optimizer = make_optimizer(model, config)
    batch_rng = np.random.default_rng([config.seed, 1])
    step = 0
    if saved:
        step, batch_rng = restore_run(saved, model, optimizer, data_sha256, checkpoint)
    if step >= config.steps:
        echo(f"{checkpoint} is at step {step} already; pass a larger --steps to train on")
        return TrainResult(model, tokenizer, step, None, None, out, None)
    scheduler = WarmupCosineLR(optimizer, config.warmup_steps, decay_steps=config.steps, min_lr=config.min_lr,
                               last_epoch=step - 1)  # the lr of this step; a resumed run goes on where it was

    if not resume:  # only now, when everything above has worked: a failed start leaves the old run alone
        claim_out_dir(out, overwrite)

    def save() -> None:
        save_run(checkpoint, model, optimizer, batch_rng, step, config, model_config, tokenizer, data_sha256)

    echo(describe(config, model, dataset, resume, step))
    metrics = MetricsWriter(out / METRICS, append=resume, resume_step=step)
    optimizer.track_stats = config.log_stats
    bar = tqdm(total=config.steps, initial=step, unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=not progress, desc=config.model)
    loss_value = val_loss = None
    step_ms: list[float] = []
    diverged_above = DIVERGENCE_FACTOR * max(math.log(tokenizer.vocab_size), 1.0)  # ln V: a uniform guess
    # a diverging run is caught by the finite-loss check, with one clear message, not numpy warnings
    with metrics, bar, DeferredInterrupt() as interrupt, np.errstate(invalid="ignore", over="ignore",
                                                                    divide="ignore"):
        while step < config.steps:  # done? stop
            # ---- one step: the loss, its gradient, the update
            start = time.perf_counter()
            lr = scheduler.get_last_lr()[0]
            x, y = dataset.get_batch("train", config.batch_size, config.block_size, batch_rng)  # (B, T), (B, T)
            logits, loss = model(x, y)  # (B, T, vocab), ()
            loss_value = loss.item()
            if not math.isfinite(loss_value) or loss_value > diverged_above:
                raise TrainError(divergence_message(config, step + 1, loss_value, lr, tokenizer.vocab_size))
            optimizer.zero_grad()
            loss.backward()  # gradient
            if config.grad_clip > 0:
                clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()  # update
            scheduler.step()  # the next step's learning rate
            del logits, loss  # free this step's graph before the next one is built
            step += 1
            step_ms.append((time.perf_counter() - start) * 1e3)
            bar.set_postfix(postfix(loss_value, lr, val_loss), refresh=False)
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
                plot_run(out, config)
                raise TrainingInterrupted(step, out)
    if not evaluating:
        save()
    plot_run(out, config)
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


def _model_config(config: TrainConfig, vocab_size: int, saved: tuple[dict, dict] | None,
                  source: InitSource | None):
    """The model's config: the resumed checkpoint's, the --init-from model's (with this run's dropout),
    else one from the run's size fields.

    Saved configs keep fields the command line has no flag for (a GPT's ``bias``).
    """
    spec = MODELS[config.model]
    if saved and isinstance(saved[1].get("model_config"), dict):
        try:
            return spec.config_cls(**saved[1]["model_config"])
        except TypeError as error:
            raise CheckpointError(f"the checkpoint's model config does not fit ({error})") from None
    if source:
        keep_dropout = config.dropout is None or "dropout" not in spec.config_fields()
        return source.model.config if keep_dropout else replace(source.model.config, dropout=config.dropout)
    return model_config_for(config, vocab_size)


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


def claim_out_dir(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready for a new run: refuse another run's checkpoint there, or with ``overwrite`` delete it."""
    checkpoint = out / CHECKPOINT
    if not checkpoint.exists():
        return
    if not overwrite:
        raise TrainError(f"{out} holds another run's {CHECKPOINT}; continue that run with --resume, replace it "
                         f"with --overwrite, or choose another --out")
    for name in (CHECKPOINT, METRICS, LOSS_PLOT):
        (out / name).unlink(missing_ok=True)
