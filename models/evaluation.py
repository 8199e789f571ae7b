"""How a training run scores its model on the validation split.

Two kinds of score, named in ``metrics.jsonl`` by ``val_kind``:

- ``"sampled"`` (``sampled_val_loss``): nanoGPT's estimate, the mean loss over
  ``eval_iters`` random validation batches.  The batches come from their own
  generator, re-seeded on every call, so every evaluation of a run scores the
  same text, and training's random streams are never touched.
- ``"full"`` (``full_val_loss``): every validation target once, in order, in
  batches: exact and deterministic.  For Bigram and GPT the split is cut into
  non-overlapping windows of ``block_size`` characters (the last one shorter),
  so a character is predicted from the 1 to ``block_size`` characters of its
  window up to it, exactly as in training: this is the quantity the sampled
  estimate estimates, without its sampling noise.  For the MLP every character
  is predicted from its context of ``block_size`` characters before it.

Both run in eval mode (dropout off) without recording a graph.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from engine import no_grad
from models.batches import draw_batch, split_batches
from models.data import CharDataset

SAMPLED, FULL = "sampled", "full"


def sampled_val_loss(model, dataset: CharDataset, config) -> float:
    """Mean loss over ``config.eval_iters`` fixed random validation batches."""
    rng = np.random.default_rng([config.seed, 2])
    with _scoring(model):
        losses = [model(*draw_batch(model, dataset, "val", config, rng))[1].item() for _ in range(config.eval_iters)]
    return sum(losses) / config.eval_iters


def full_val_loss(model, dataset: CharDataset, config) -> float:
    """Mean loss over every target of the validation split, each scored once (see the module docstring)."""
    total, count = 0.0, 0
    with _scoring(model):
        for x, y in split_batches(model, dataset, "val", config.block_size):
            total += model(x, y)[1].item() * y.size
            count += y.size
    return total / count


@contextmanager
def _scoring(model):
    """Eval mode and no graph inside; the model's previous mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)
