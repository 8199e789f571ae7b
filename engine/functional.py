"""Neural-network functions on tensors (imported as `F`): activations, losses, norms.

Stable formulations throughout: softmax and friends shift by the maximum, cross
entropy never takes the log of a rounded-to-zero probability.
"""
import numpy as np

from engine import ops
from engine.random import get_rng
from engine.tensor import Tensor


def relu(x):
    """max(x, 0)."""
    return x.relu()


def tanh(x):
    """Hyperbolic tangent."""
    return x.tanh()


def sigmoid(x):
    """Logistic sigmoid."""
    return x.sigmoid()


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`."""
    return ops.Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`, computed without forming softmax."""
    return ops.LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis` (None: all axes), finite for any finite input."""
    return ops.LogSumExp.apply(x, axis=axis, keepdims=keepdims)


def cross_entropy(logits, targets, reduction="mean", ignore_index=-100):
    """Cross entropy between logits (..., C) and integer class targets (...).

    `reduction` is 'mean' (over targets that are not `ignore_index`), 'sum' or 'none'.
    """
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got {t.dtype}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: unknown reduction {reduction!r} (use 'mean', 'sum' or 'none')")
    return ops.CrossEntropy.apply(logits, targets=t, reduction=reduction, ignore_index=ignore_index)


def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or elementwise) squared error."""
    d = input - target
    d = d * d
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    if reduction == "none":
        return d
    raise ValueError(f"mse_loss: unknown reduction {reduction!r} (use 'mean', 'sum' or 'none')")


def gelu(x, approximate="none"):
    """Gaussian error linear unit: x * Phi(x), or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return ops.Gelu.apply(x, approximate=approximate)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing `normalized_shape` axes, then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    if x.shape[len(x.shape) - len(normalized_shape):] != normalized_shape:
        raise ValueError(f"layer_norm: input of shape {x.shape} does not end in normalized_shape {normalized_shape}")
    affine = [t for t in (weight, bias) if t is not None]
    return ops.LayerNorm.apply(x, *affine, n_axes=len(normalized_shape), eps=float(eps),
                               has_weight=weight is not None, has_bias=bias is not None)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only)."""
    if not 0.0 <= p < 1.0:
        if p == 1.0 and training:
            return x * 0.0
        if p != 1.0:
            raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    keep = get_rng().random(x.shape, dtype=np.float32) >= p
    return x * Tensor._wrap((keep * (1.0 / (1.0 - p))).astype(x.dtype))


def _packed_source(q, k, v):
    """The tensor qkv when q, k, v are its slices qkv[0], qkv[1], qkv[2] in the graph, else None."""
    nodes = [t._ctx for t in (q, k, v)]
    if any(n is None or n.op is not ops.Index for n in nodes):
        return None
    source = nodes[0].parents[0]
    if source.shape[0] != 3 or any(n.parents[0] is not source or n.attrs["idx"] != (i,) for i, n in enumerate(nodes)):
        return None
    return source


def scaled_dot_product_attention(q, k, v, is_causal=False, dropout_p=0.0, training=True, scale=None):
    """softmax(q @ k^T / sqrt(D) [+ causal mask]) @ v for q, k, v of shape (B, H, T, D), one fused op.

    When q, k, v are the slices qkv[0], qkv[1], qkv[2] of one tensor (nanoGPT's fused
    c_attn projection), the op takes qkv itself: same values, and one gradient array
    instead of three zero-padded ones.
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: shapes q {q.shape}, k {k.shape}, v {v.shape} do not fit")
    scale = 1.0 / float(np.sqrt(q.shape[-1])) if scale is None else float(scale)
    mask = None
    if dropout_p > 0.0 and training:
        shape = q.shape[:-1] + (k.shape[-2],)
        mask = ((get_rng().random(shape, dtype=np.float32) >= dropout_p) * (1.0 / (1.0 - dropout_p))).astype(q.dtype)
    packed = _packed_source(q, k, v)
    parents = (q, k, v) if packed is None else (packed,)
    return ops.Attention.apply(*parents, is_causal=bool(is_causal), scale=scale, dropout_mask=mask)


def embedding(idx, weight):
    """Rows of `weight` picked by the integer tensor `idx`: shape idx.shape + (dim,)."""
    return weight[idx]


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight of shape (out, in) as in PyTorch."""
    return ops.Linear.apply(x, weight) if bias is None else ops.Linear.apply(x, weight, bias)
