"""The training loop of ``stepgrad train``: a character-level model, one step at a time.

It reads top to bottom like nanoGPT's ``train.py`` and follows the seed's
flowchart: initialise -> compute the loss -> done? stop -> gradient -> update
-> repeat.  The learning rate follows ``optim.lr_scheduler.WarmupCosineLR``
(linear warm-up, then a cosine from ``lr`` to ``min_lr`` at the last step).
The jobs around the loop have their own modules:

- ``models.train_config``: the settings (``TrainConfig``, defaults, checks, resume);
- ``models.run_state``: what ``checkpoint.safetensors`` holds, saving and restoring a run;
- ``models.batches``: the batches each model reads;
- ``models.evaluation``: the validation loss, sampled or over the whole split;
- ``models.train_stats``: what ``--log-stats`` records;
- ``models.train_report``: the lines the run prints, ``loss.png`` and ``stats.png``;
- ``models.interrupt``: Ctrl-C or SIGTERM finishes the step, saves, then stops;
- ``models.run_folder``: the output folder, locked while the run lasts.

The output directory gets ``metrics.jsonl`` (one line per step: ``step``,
``loss``, ``lr``, ``ms``, and on eval steps ``val_loss`` and ``val_kind``),
a checkpoint at every eval, at the end and on Ctrl-C (written atomically;
``resume=True`` continues the run with exactly the losses an uninterrupted run
would have had), and ``loss.png`` (with ``--log-stats`` also ``stats.png``)
when the run ends.  Every evaluation scores ``eval_iters`` random validation
batches, except the last one of the run, which by default scores the whole
validation split (``final_eval``).

Three random streams keep a run reproducible: the engine's generator
(``manual_seed(seed)``: initial weights, dropout), the training-batch
generator and a separate evaluation generator.  Evaluation always scores the
same validation text and never touches the other two streams, so when and how
often a run evaluates does not change its training losses.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from engine import manual_seed, nn
from models.batches import draw_batch
from models.checkpoint import CheckpointError, check_compatible, open_checkpoint
from models.checkpoint_meaning import check_finite, checked_model
from models.data import MAX_DATA_BYTES, CharDataset, DataError, is_word_list, load_text
from models.evaluation import FULL, SAMPLED, full_val_loss, sampled_val_loss
from models.init_from import InitSource, load_source
from models.interrupt import DeferredInterrupt, TrainingInterrupted
from models.metrics import MetricsWriter
from models.registry import MODELS, build_model
from models.run_folder import locked_out_dir, prepare_out_dir, remove_stale_temporaries
from models.run_state import check_same_text, restore_run, save_run
from models.sizes import check_checkpoint_fits, check_fits, training_estimate
from models.tokenizer import CharTokenizer, TokenizerError
from models.train_config import (CHECKPOINT, MODEL_FIELDS, TrainConfig, TrainError, check_config, make_config,
                                 make_optimizer, model_config_for, saved_config)
from models.train_report import (DIVERGENCE_FACTOR, LOSS_PLOT, METRICS, STATS_PLOT, describe, divergence_message,
                                  done_line, echo_line, plot_run, postfix)
from models.train_stats import SaturationMonitor, step_stats
from optim import clip_grad_norm_
from optim.lr_scheduler import WarmupCosineLR

__all__ = [
    "train", "evaluate", "prepare_out_dir", "claim_out_dir", "TrainResult", "TrainConfig", "TrainError",
    "make_config", "TrainingInterrupted", "CHECKPOINT", "METRICS", "LOSS_PLOT", "STATS_PLOT",
]


@dataclass
class TrainResult:
    """What ``train`` leaves behind."""

    model: nn.Module
    tokenizer: CharTokenizer
    step: int  # steps completed
    loss: float | None  # training loss of the last step run now (None if none ran)
    val_loss: float | None  # the last evaluation, if any
    val_kind: str | None  # "full" (the whole validation split) or "sampled" (eval_iters batches)
    out: Path
    ms_per_step: float | None  # median over the steps run now


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          echo: Callable[[str], None] | None = None, overwrite: bool = False,
          max_data_bytes: int = MAX_DATA_BYTES, init_source: InitSource | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data`` until step ``config.steps``; see the module docstring.

    ``resume=True`` continues from ``config.out/checkpoint.safetensors``.  A new
    run refuses an output directory that holds another run's checkpoint unless
    ``overwrite=True``, which deletes that run's files first.  The output
    folder is locked while the run lasts (``models.run_folder``), so a second
    run into it is refused; a data file above ``max_data_bytes`` is refused.
    ``progress`` shows a tqdm bar on stderr; ``echo`` prints the report lines
    (default: stdout, around the bar).  Raises ``TrainingInterrupted`` after
    Ctrl-C or SIGTERM (a checkpoint is written first), ``TrainError``,
    ``DataError``, ``CheckpointError`` or ``SizeError`` for problems the user
    can fix; a loss that is not finite or above ``DIVERGENCE_FACTOR`` times
    ln(vocabulary size) is a ``TrainError`` saying what to try.  ``init_source``: the model of
    ``config.init_from`` when the caller has loaded it already (the command line has, for its sizes).
    """
    echo = echo or echo_line
    check_config(config)
    with locked_out_dir(config.out) as out:
        stale = remove_stale_temporaries(out, (CHECKPOINT, METRICS, LOSS_PLOT, STATS_PLOT))
        if stale:
            echo(f"note: removed {len(stale)} temporary file(s) an interrupted run left in {out}: {', '.join(stale)}")
        return _train_in(out, config, resume, progress, echo, overwrite, max_data_bytes, init_source)


def _train_in(out: Path, config: TrainConfig, resume: bool, progress: bool, echo: Callable[[str], None],
              overwrite: bool, max_data_bytes: int, init_source: InitSource | None = None) -> TrainResult:
    """``train`` inside its locked output folder."""
    checkpoint = out / CHECKPOINT

    # ---- data: the text, its characters, train/val ids
    text = _load_text(config, resume, max_data_bytes)
    data_sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    opened = open_checkpoint(checkpoint) if resume else None
    source = (init_source or load_source(config.init_from)) if config.init_from and not opened else None
    if opened:  # every stored value is checked before anything is built from it
        check_compatible(opened.meta, config.model, checkpoint)
        saved = saved_config(opened.meta, checkpoint)
        check_same_text(opened.meta, data_sha256, config, checkpoint)
        _, model_config, tokenizer = checked_model(opened)
        _check_sizes_agree(config, model_config, checkpoint)
    else:  # None: a new run's vocabulary is the text's characters (a word list's and its newline)
        tokenizer = source.tokenizer if source else None
    word_list = is_word_list(text) if config.word_list is None else config.word_list
    try:
        dataset = CharDataset(text, config.val_fraction, tokenizer, source=config.data, word_list=word_list)
    except TokenizerError as error:
        raise DataError(f"{config.data} does not fit the checkpoint's vocabulary: {error}") from None
    tokenizer = dataset.tokenizer
    dataset.check_block_size(config.block_size)
    if config.model == "mlp":
        dataset.check_seq_len(config.seq_len)
    if not opened:
        model_config = _model_config(config, tokenizer, source)

    # ---- initialise: model, optimizer, random streams (or restore them all), learning-rate schedule
    estimate = training_estimate(config, model_config, len(text))  # a resumed run's too (models.sizes)
    check_fits(estimate, f"training {config.model}")
    check_checkpoint_fits(config, model_config)
    tensors = opened.read_tensors() if opened else None
    if tensors:
        check_finite(tensors, checkpoint)
    manual_seed(config.seed)
    model = build_model(config.model, model_config)
    if source:
        model.load_state_dict(source.model.state_dict())
    optimizer = make_optimizer(model, config)
    batch_rng = np.random.default_rng([config.seed, 1])
    step = 0
    if opened:
        step, batch_rng = restore_run(opened, tensors, model, optimizer, saved.steps)
        del tensors  # the file's bytes; the model and optimizer hold copies
    if step >= config.steps:
        echo(f"{checkpoint} is at step {step} already; pass a larger --steps to train on")
        return TrainResult(model, tokenizer, step, None, None, None, out, None)
    scheduler = WarmupCosineLR(optimizer, config.warmup_steps, decay_steps=config.steps, min_lr=config.min_lr,
                               last_epoch=step - 1)  # the lr of this step; a resumed run goes on where it was

    if not resume:  # only now, when everything above has worked: a failed start leaves the old run alone
        claim_out_dir(out, overwrite)

    def save() -> None:
        save_run(checkpoint, model, optimizer, batch_rng, step, config, model_config, tokenizer, data_sha256)

    echo(describe(config, dataset, resume, step, estimate))
    metrics = MetricsWriter(out / METRICS, append=resume, resume_step=step)
    if metrics.repair_note:
        echo(f"note: {metrics.repair_note}")
    optimizer.track_stats = config.log_stats
    monitor = SaturationMonitor(model) if config.log_stats else nullcontext()  # hooks only with --log-stats
    bar = tqdm(total=config.steps, initial=step, unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=not progress, desc=config.model)
    loss_value = val_loss = val_kind = None
    step_ms: list[float] = []
    diverged_above = DIVERGENCE_FACTOR * max(math.log(tokenizer.vocab_size), 1.0)  # ln V: a uniform guess
    # a diverging run is caught by the finite-loss check, with one clear message, not numpy warnings
    with metrics, bar, monitor, DeferredInterrupt() as interrupt, np.errstate(invalid="ignore", over="ignore",
                                                                             divide="ignore"):
        while step < config.steps:  # done? stop
            # ---- one step: the loss, its gradient, the update
            start = time.perf_counter()
            lr = scheduler.get_last_lr()[0]
            x, y = draw_batch(model, dataset, "train", config, batch_rng)  # (B, T) or MLP (B, T, context), (B, T)
            logits, loss = model(x, y)  # (B, T, vocab), ()
            loss_value = loss.item()
            if not math.isfinite(loss_value) or loss_value > diverged_above:
                raise TrainError(divergence_message(config, step + 1, loss_value, lr, tokenizer.vocab_size))
            optimizer.zero_grad()
            loss.backward()  # gradient
            grad_norm = clip_grad_norm_(model.parameters(), config.grad_clip) if config.grad_clip > 0 else None
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
            extra = step_stats(optimizer, monitor, grad_norm) if config.log_stats else {}
            if evaluating:
                val_kind = FULL if step == config.steps and config.final_eval == FULL else SAMPLED
                val_loss = evaluate(model, dataset, config, val_kind)
                extra["val_kind"] = val_kind
                echo(f"step {step}: train loss {loss_value:.4f}, val loss {val_loss:.4f}"
                     + (" (whole validation split)" if val_kind == FULL else ""))
            metrics.write(step, loss_value, lr, step_ms[-1], val_loss if evaluating else None, **extra)
            if evaluating or interrupt.requested or step == config.steps:
                save()  # inside DeferredInterrupt: a signal now waits for the write to finish
            if interrupt.requested and step < config.steps:
                plot_run(out, config)
                raise TrainingInterrupted(step, out, interrupt.signum)
    plot_run(out, config)
    echo(done_line(config, step, loss_value, val_loss, val_kind, float(np.median(step_ms)), out))
    return TrainResult(model, tokenizer, step, loss_value, val_loss, val_kind, out, float(np.median(step_ms)))


def evaluate(model: nn.Module, dataset: CharDataset, config: TrainConfig, kind: str = SAMPLED) -> float:
    """The validation loss: ``"sampled"`` (``eval_iters`` fixed random batches) or ``"full"`` (the whole split).

    See ``models.evaluation``.  Runs in eval mode without a graph; the model's
    mode is restored afterwards.
    """
    return full_val_loss(model, dataset, config) if kind == FULL else sampled_val_loss(model, dataset, config)


def _model_config(config: TrainConfig, tokenizer: CharTokenizer, source: InitSource | None):
    """A new run's model config: the --init-from model's (with this run's dropout), else one from the run's
    size fields (an MLP pads with the newline, makemore's '.')."""
    spec = MODELS[config.model]
    if source:
        keep_dropout = config.dropout is None or "dropout" not in spec.config_fields()
        return source.model.config if keep_dropout else replace(source.model.config, dropout=config.dropout)
    newline = int(tokenizer.encode("\n")[0]) if "\n" in tokenizer.chars else None
    return model_config_for(config, tokenizer.vocab_size, pad_id=newline)


def _check_sizes_agree(config: TrainConfig, model_config, path: Path) -> None:
    """A saved model config (which keeps fields the command line has no flag for, such as a GPT's ``bias``)
    must agree with every size its run's settings also give."""
    for key in ("block_size", *MODEL_FIELDS):
        given = getattr(config, key)
        if given is not None and hasattr(model_config, key) and getattr(model_config, key) != given:
            raise CheckpointError(f"{path}: its model config does not match its run's settings ({key} "
                                  f"{getattr(model_config, key)!r} in the model, {given!r} in the settings)")


def claim_out_dir(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready for a new run: refuse another run's checkpoint there, or with ``overwrite`` delete it."""
    checkpoint = out / CHECKPOINT
    if not checkpoint.exists():
        return
    if not overwrite:
        raise TrainError(f"{out} holds another run's {CHECKPOINT}; continue that run with --resume, replace it "
                         f"with --overwrite, or choose another --out")
    for name in (CHECKPOINT, METRICS, LOSS_PLOT, STATS_PLOT):
        (out / name).unlink(missing_ok=True)


def _load_text(config: TrainConfig, resume: bool, max_data_bytes: int) -> str:
    """The training text; on resume, a missing file is named with a hint."""
    try:
        return load_text(config.data, max_data_bytes)
    except DataError as error:
        if resume and str(error).startswith("data file not found"):
            raise DataError(f"{error}; resuming needs the text the run was trained on: pass it with --data "
                            "(any path, if the text is the same)") from None
        raise
