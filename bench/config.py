"""Sizes of everything the benchmark measures: nanoGPT's CPU recipe, or tiny ones for smoke tests."""
from dataclasses import dataclass

from models.recipe import GPT_RECIPE


@dataclass(frozen=True)
class Sizes:
    """Problem sizes and how often each figure is measured.

    The GPT fields default to nanoGPT's CPU recipe (`models.recipe`); `vocab_size`
    is tiny Shakespeare's. `chain_ops` is the length of the tiny-op chain, `mlp`
    the MLP's layer widths and `mlp_batch` its rows; `gemm` the side of the
    square float32 matmul that measures each BLAS's peak.
    """
    batch_size: int = GPT_RECIPE.batch_size
    block_size: int = GPT_RECIPE.block_size
    n_layer: int = GPT_RECIPE.n_layer
    n_head: int = GPT_RECIPE.n_head
    n_embd: int = GPT_RECIPE.n_embd
    vocab_size: int = 65
    lr: float = GPT_RECIPE.lr
    betas: tuple = GPT_RECIPE.betas
    weight_decay: float = GPT_RECIPE.weight_decay
    grad_clip: float = GPT_RECIPE.grad_clip
    chain_ops: int = 200
    chain_shape: tuple = (4,)
    mlp: tuple = (16, 32, 4)
    mlp_batch: int = 32
    gemm: int = 1024
    memory_steps: int = 5

    @property
    def tokens(self):
        """Tokens per GPT step (B * T)."""
        return self.batch_size * self.block_size


RECIPE = Sizes()
TINY = Sizes(batch_size=2, block_size=8, n_layer=1, n_head=2, n_embd=16, chain_ops=20, gemm=64, memory_steps=2)


@dataclass(frozen=True)
class Plan:
    """How often to time each figure: `repeats` interleaved blocks of `number` calls each.

    `settle` is the pause (seconds) before each block, `profile_steps` the GPT steps profiled.
    """
    repeats: int
    gpt_number: int = 3
    tiny_number: int = 20
    mlp_number: int = 50
    gemm_number: int = 3
    warmup: int = 3
    settle: float = 0.25
    profile_steps: int = 10
