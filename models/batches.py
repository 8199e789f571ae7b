"""The batches each language model trains and is scored on.

Bigram and GPT read windows of consecutive characters (B, T) whose targets are
the same windows shifted by one (nanoGPT's ``get_batch``): position t of a
window is predicted from the t + 1 characters up to it.  The MLP
(``reads_contexts``) reads contexts (B, T, block_size): each target comes with
the block_size characters before it in the text, so no prediction is made from
padding while the real text is there (``CharDataset.get_context_batch``).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from models.data import CharDataset

FULL_EVAL_ROWS = 64  # windows per forward pass when scoring a whole split
FULL_EVAL_POSITIONS = 4096  # MLP targets per forward pass when scoring a whole split


def draw_batch(model, dataset: CharDataset, split: str, config, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """A random batch of ``split`` as ``model`` reads it: ``batch_size`` rows of ``seq_len`` or ``block_size``."""
    if model.reads_contexts:
        return dataset.get_context_batch(split, config.batch_size, config.seq_len, model.context_size,
                                         model.pad_id, rng)                   # (B, T, context), (B, T)
    return dataset.get_batch(split, config.batch_size, config.block_size, rng)  # (B, T), (B, T)


def split_batches(model, dataset: CharDataset, split: str, block_size: int
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The whole ``split``, every target once and in order, as batches ``(x, y)`` for ``model``.

    Bigram and GPT: non-overlapping windows of ``block_size`` (the last one
    shorter), ``FULL_EVAL_ROWS`` at a time.  MLP: ``FULL_EVAL_POSITIONS``
    targets at a time, each with its context, as (1, N, context) and (1, N).
    """
    if model.reads_contexts:
        positions = dataset.positions(split)
        for i in range(0, len(positions), FULL_EVAL_POSITIONS):
            chunk = positions[i:i + FULL_EVAL_POSITIONS][None]                         # (1, N)
            yield dataset.contexts(chunk, model.context_size, model.pad_id), dataset.ids[chunk]
        return
    for x, y in dataset.windows(split, block_size):                                    # (N, T) each
        for i in range(0, len(x), FULL_EVAL_ROWS):
            yield x[i:i + FULL_EVAL_ROWS], y[i:i + FULL_EVAL_ROWS]
