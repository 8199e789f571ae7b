"""The learning-rate schedule of the training loop: linear warm-up, then cosine decay.

This is nanoGPT's ``get_lr``: for the first ``warmup_steps`` steps the rate
climbs linearly towards ``lr``; then it follows half a cosine from ``lr`` down
to ``min_lr``, reached at ``decay_steps`` (the training loop passes the run's
total step count), and stays there.

    >>> [round(get_lr(i, lr=1.0, min_lr=0.0, warmup_steps=2, decay_steps=6), 3) for i in range(7)]
    [0.333, 0.667, 1.0, 0.854, 0.5, 0.146, 0.0]
"""

from __future__ import annotations

import math


def get_lr(step: int, lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """The learning rate for ``step`` (counted from 0) as a Python float.

    ``step < warmup_steps``: ``lr * (step + 1) / (warmup_steps + 1)``;
    ``warmup_steps <= step <= decay_steps``: cosine from ``lr`` to ``min_lr``;
    later (or when ``decay_steps <= warmup_steps`` leaves no room to decay):
    ``min_lr``.
    """
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    if step > decay_steps or decay_steps <= warmup_steps:
        return min_lr
    decay_ratio = (step - warmup_steps) / (decay_steps - warmup_steps)  # in [0, 1]
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # 1 -> 0
    return min_lr + coeff * (lr - min_lr)
