"""What a training run tells the user: its opening and closing lines, the progress bar's fields,
why it stopped, ``loss.png`` and (with ``--log-stats``) ``stats.png``."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from tqdm import tqdm

from models.data import CharDataset
from models.metrics import read_metrics
from models.plots import plot_loss_curve, plot_training_stats
from models.sizes import Estimate
from models.train_config import CHECKPOINT, TrainConfig

METRICS = "metrics.jsonl"
LOSS_PLOT = "loss.png"
DIVERGENCE_FACTOR = 10.0  # a loss this many times ln(vocabulary size), a uniform guess's, has diverged
STATS_PLOT = "stats.png"
VAL_KINDS = {"full": "whole validation split", "sampled": "sampled batches"}


def echo_line(line: str) -> None:
    """Print a line to stdout above the progress bar (which stays intact on stderr)."""
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def describe(config: TrainConfig, dataset: CharDataset, resume: bool, step: int, estimate: Estimate) -> str:
    """The opening line: model, size and memory estimate, data, steps, batch and learning rates."""
    steps = f"{config.steps} step{'s' * (config.steps != 1)}"
    action = f"resuming at step {step} of {config.steps}" if resume else steps
    if config.init_from and not resume:
        action += f" from the weights of {config.init_from}"
    words = f" (a word list: {len(dataset.starts):,} words, one per line)" if dataset.word_list else ""
    batch = (f"batch {config.batch_size} x {config.seq_len}, context {config.block_size}" if config.model == "mlp"
             else f"batch {config.batch_size} x {config.block_size}")
    return (f"training {config.model} ({estimate.describe()}) on {config.data}{words}: "
            f"{len(dataset.train):,} train / {len(dataset.val):,} val characters, vocabulary "
            f"{dataset.tokenizer.vocab_size}; {action}, {batch}, "
            f"{config.optimizer} lr {config.lr:g} -> {config.min_lr:g}")


def divergence_message(config: TrainConfig, step: int, loss: float, lr: float, vocab_size: int) -> str:
    """One line: the loss that stopped the run, at which step and rate, and the settings to try instead."""
    if math.isfinite(loss):
        what = (f"the loss reached {loss:.4g} at step {step}, over {DIVERGENCE_FACTOR:g} times the "
                f"{math.log(vocab_size):.3g} of a uniform guess among {vocab_size} characters")
    else:
        what = f"the loss became {loss} at step {step}"
    tries = [f"a smaller --lr (this run's is {config.lr:g}; try {config.lr / 10:g})"]
    if config.grad_clip <= 0:
        tries.append("--grad-clip 1 to bound each update")
    tries.append(f"a longer warm-up (--warmup-steps {max(2 * config.warmup_steps, 100)})")
    return (f"{what} (learning rate {lr:.3g} at that step): the updates are too large; start again "
            f"(--overwrite) with {', or '.join(tries)}")


def done_line(config: TrainConfig, step: int, loss: float, val_loss: float | None, val_kind: str | None,
              ms_per_step: float, out: Path) -> str:
    """The closing line: the last losses (and which kind of validation loss), speed and the files written."""
    val = f", val loss {val_loss:.4f} ({VAL_KINDS[val_kind]})" if val_loss is not None else ""
    stats = f", {STATS_PLOT}" if config.log_stats else ""
    return (f"done: step {step}, train loss {loss:.4f}{val}, {ms_per_step:.1f} ms/step; "
            f"wrote {CHECKPOINT}, {METRICS}, {LOSS_PLOT}{stats} in {out}")


def postfix(loss: float, lr: float, val_loss: float | None) -> dict[str, str]:
    """The progress bar's fields: the last loss, the learning rate and the last validation loss."""
    fields = {"loss": f"{loss:.4f}", "lr": f"{lr:.2e}"}
    if val_loss is not None:
        fields["val"] = f"{val_loss:.4f}"
    return fields


def plot_run(out: Path, config: TrainConfig) -> None:
    """Draw ``loss.png`` (and with ``--log-stats`` ``stats.png``) from the whole metrics file.

    The whole file: the earlier parts of a resumed run are included.
    """
    records = read_metrics(out / METRICS) if (out / METRICS).exists() else []
    title = f"{config.model} on {Path(config.data).name}"
    if records:
        plot_loss_curve(records, out / LOSS_PLOT, title=title)
    if config.log_stats and any("optim_stats" in record for record in records):
        plot_training_stats(records, out / STATS_PLOT, title=title, grad_clip=config.grad_clip)
