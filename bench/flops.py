"""How much arithmetic a GPT step does, and the BLAS peak to hold it against.

The step's FLOPs are counted analytically from the matrix multiplies, as in
nanoGPT's `estimate_mfu` (after the PaLM paper's appendix B): forward and backward
of a matmul with N weights on one token cost 6N FLOPs (2N forward, 4N backward),
and attention adds 12 * n_layer * T * n_embd per token (QK^T and att@V, each
2 * T * n_embd forward, counted over the full T x T matrix as both frameworks
compute it). The matmul weights are 12 * n_embd^2 per layer (c_attn 3, c_proj 1,
MLP 4 + 4) plus the tied lm_head's n_embd * vocab; embedding lookups, layer norms,
GELU, softmax and the optimizer are not counted. The peak is a square float32
matmul through each framework's own BLAS.
"""
import numpy as np


def gpt_matmul_params(sizes, vocab_size):
    """Weights that multiply activations in the GPT: the blocks' Linear layers and lm_head."""
    return sizes.n_layer * 12 * sizes.n_embd ** 2 + sizes.n_embd * vocab_size


def gpt_step_flops(sizes, vocab_size):
    """FLOPs of one GPT forward + backward over B * T tokens (matmuls and attention only)."""
    per_token = 6 * gpt_matmul_params(sizes, vocab_size) + 12 * sizes.n_layer * sizes.block_size * sizes.n_embd
    return per_token * sizes.tokens


def gemm_flops(n):
    """FLOPs of an (n, n) @ (n, n) matmul."""
    return 2 * n ** 3


def _gemm_operands(n, seed=0):
    """Two (n, n) float32 matrices from a fixed generator."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n)).astype(np.float32) for _ in range(2)]


def numpy_gemm(n):
    """A callable: numpy's (n, n) @ (n, n) float32 matmul into a preallocated output."""
    a, b = _gemm_operands(n)
    out = np.empty((n, n), dtype=np.float32)
    return lambda: np.matmul(a, b, out=out)


def torch_gemm(torch, n):
    """A callable: the same matmul with `torch.mm`."""
    a, b = (torch.from_numpy(v) for v in _gemm_operands(n))
    out = torch.empty((n, n), dtype=torch.float32)
    return lambda: torch.mm(a, b, out=out)
