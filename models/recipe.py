"""nanoGPT's CPU recipe for tiny Shakespeare: the one place its numbers live.

nanoGPT's ``config/train_shakespeare_char.py``, shrunk the way its README
suggests for a CPU: a 4-layer, 4-head, 128-wide GPT over a context of 64
characters, batches of 12, AdamW from 1e-3 down to 1e-4 on a cosine after 100
warm-up steps, 2000 steps. ``GPTConfig``'s defaults, ``stepgrad train
--model gpt``'s defaults, the lockstep comparison with PyTorch and the
benchmark all read their numbers from ``GPT_RECIPE``.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """A GPT and how to train it: sizes, optimizer, schedule and evaluation."""
    # the model
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64          # characters of context
    dropout: float = 0.0
    bias: bool = False            # no biases in Linear and LayerNorm
    # the data
    batch_size: int = 12          # sequences per step
    val_fraction: float = 0.1     # the last 10% of the text is the validation split
    # the optimizer: AdamW, weight decay on matrices only, gradient clipping
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    # the schedule: linear warm-up, then a cosine from lr to min_lr at the last step
    steps: int = 2000
    warmup_steps: int = 100
    min_lr: float = 1e-4
    # evaluation
    eval_interval: int = 250
    eval_iters: int = 20


#: the recipe itself
GPT_RECIPE = Recipe()
