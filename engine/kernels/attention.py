"""Attention kernels: softmax(q @ kᵀ * scale + mask) @ v and its gradients, one batch block per thread.

The (B, H, T, S) attention matrix is computed once, in place, and kept for backward.
numpy's fast paths, measured: a row max with `initial=-inf` (numpy reduces short rows
2.5x faster with it) and row sums by `np.einsum("...j->...")` (4x faster than `.sum`).
"""
import numpy as np

from engine.kernels.rows import flush_tiny
from engine.kernels.threads import for_blocks

_masks = {}


def causal_mask(t, dtype):
    """(t, t) additive mask: 0 on and below the diagonal, -inf above (cached)."""
    key = (t, np.dtype(dtype))
    if key not in _masks:
        _masks[key] = np.triu(np.full((t, t), -np.inf, dtype=dtype), k=1)
    return _masks[key]


def scaled_softmax(a, scale, is_causal):
    """a (b, H, T, S) <- softmax(a * scale [+ causal mask]) over its last axis, in place.

    Values below 1e-30 are set to 0.
    """
    a *= scale
    if is_causal:
        a += causal_mask(a.shape[-1], a.dtype)[-a.shape[-2]:]
    a -= a.max(axis=-1, keepdims=True, initial=-np.inf)
    np.exp(a, out=a)
    a /= np.einsum("...j->...", a)[..., None]
    flush_tiny(a)


def scaled_softmax_backward(d, a, scale):
    """d <- a * (d - rowsum(a * d)) * scale, in place: d loss / d scores from d loss / d softmax."""
    d -= np.einsum("...ij,...ij->...i", d, a)[..., None]
    d *= a
    d *= scale


def attention(q, k, v, is_causal, scale, dropout_mask, softmax=scaled_softmax):
    """(y, att) for q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv): att = softmax(q @ kᵀ * scale [+ causal
    mask, aligned to the last query]) (B, H, T, S), y = (att [* dropout_mask]) @ v (B, H, T, Dv).

    `softmax` is the step that turns scores into `att` in place (`scaled_softmax`'s signature).
    """
    B, H, T, D = q.shape
    att = np.empty((B, H, T, k.shape[-2]), dtype=np.result_type(q, k))  # (B, H, T, S)
    # (B, H, T, Dv), laid out (B, T, H, Dv): the heads side by side, (B, T, H·Dv), are then a view, not a copy
    y = np.empty((B, T, H, v.shape[-1]), dtype=np.result_type(att, v)).transpose(0, 2, 1, 3)

    def rows(s, e):                                                   # one block of the batch, start to end
        a = att[s:e]
        np.matmul(q[s:e], k[s:e].swapaxes(-1, -2), out=a)
        softmax(a, scale, is_causal)
        if dropout_mask is not None:
            a = a * dropout_mask[s:e]
        np.matmul(a, v[s:e], out=y[s:e])

    for_blocks(rows, B, att.size * (D + 4))
    return y, att


def attention_backward(g, att, q, k, v, scale, dropout_mask, packed=None, softmax_backward=scaled_softmax_backward):
    """Gradients for upstream g (B, H, T, Dv) given the `att` that `attention` returned.

    With P = att, dP = g @ vᵀ [* dropout_mask], dS = P * (dP - rowsum(P * dP)) * scale:
    dq = dS @ k, dk = dSᵀ @ q, dv = (P [* dropout_mask])ᵀ @ g. Returns (dq, dk, dv), or,
    given `packed`, the (3, B, H, T, D) array that q, k, v are slices of, one array
    holding the three in packed's memory layout (in nanoGPT qkv is a transposed view,
    and so is its gradient: reshaped back to (B, T, 3C) it needs no copy).
    `softmax_backward` is the step from dP to dS, in place (`scaled_softmax_backward`'s signature).
    """
    if packed is not None:
        dqkv = np.empty_like(packed)                                  # (3, B, H, T, D), laid out as packed
        dq, dk, dv = dqkv
    else:
        dq, dk, dv = np.empty_like(q), np.empty_like(k), np.empty_like(v)

    def rows(s, e):
        a = att[s:e]
        dropped = a if dropout_mask is None else a * dropout_mask[s:e]
        np.matmul(dropped.swapaxes(-1, -2), g[s:e], out=dv[s:e])     # (b, H, S, Dv)
        d = np.empty(a.shape, dtype=np.result_type(g, v))             # (b, H, T, S): d loss / d att, laid out as
        np.matmul(g[s:e], v[s:e].swapaxes(-1, -2), out=d)             # att (numpy may follow g's and v's instead)
        if dropout_mask is not None:
            d *= dropout_mask[s:e]
        softmax_backward(d, a, scale)                                 # d loss / d scores
        np.matmul(d, k[s:e], out=dq[s:e])                             # (b, H, T, D)
        np.matmul(d.swapaxes(-1, -2), q[s:e], out=dk[s:e])            # (b, H, S, D)

    for_blocks(rows, len(att), att.size * (q.shape[-1] + 4))
    return dqkv if packed is not None else (dq, dk, dv)
