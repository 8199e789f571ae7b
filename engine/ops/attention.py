"""Scaled dot-product attention as one fused op (nanoGPT's `F.scaled_dot_product_attention` path).

softmax(q @ k^T * scale + causal mask) @ v for q, k, v of shape (B, H, T, D). One
kernel keeps the (B, H, T, T) attention matrix once, instead of the six graph
nodes (and their temporaries) the same function costs as primitives.
"""
import numpy as np

from engine.ops.base import FusedOp
from engine.ops.softmax import Softmax, flush_tiny
from engine.parallel import for_blocks
from engine.tensor import Tensor

_masks = {}


def causal_mask(t, dtype):
    """(t, t) additive mask: 0 on and below the diagonal, -inf above (cached)."""
    key = (t, np.dtype(dtype))
    if key not in _masks:
        _masks[key] = np.triu(np.full((t, t), -np.inf, dtype=dtype), k=1)
    return _masks[key]


class Attention(FusedOp):
    """softmax(q @ k^T * scale [+ causal mask]) [* dropout mask] @ v"""
    name = "attention"

    def forward(ctx, q, k, v, is_causal, scale, dropout_mask):
        att = q @ k.swapaxes(-1, -2)                                  # (B, H, T, S)
        mask = causal_mask(att.shape[-1], att.dtype)[-att.shape[-2]:] if is_causal else None

        def softmax_rows(s, e):                                       # the elementwise part, per batch block
            a = att[s:e]
            a *= scale
            if mask is not None:
                a += mask
            a -= a.max(axis=-1, keepdims=True)
            np.exp(a, out=a)
            a /= a.sum(axis=-1, keepdims=True)
            flush_tiny(a)

        for_blocks(softmax_rows, len(att), att.size)
        ctx.saved = att
        if dropout_mask is not None:
            att = att * dropout_mask
        return att @ v                                                # (B, H, T, D)

    def backward_arrays(ctx, g):
        att = ctx.saved                                               # (B, H, T, S)
        q, k, v = (p.data for p in ctx.parents)
        mask = ctx.attrs["dropout_mask"]
        scale = ctx.attrs["scale"]
        dropped = att if mask is None else att * mask
        dv = dropped.swapaxes(-1, -2) @ g                             # (B, H, S, D)
        ds = g @ v.swapaxes(-1, -2)                                   # (B, H, T, S): d loss / d att

        def softmax_backward_rows(s, e):
            d, a = ds[s:e], att[s:e]
            if mask is not None:
                d *= mask[s:e]
            d -= np.einsum("...ij,...ij->...i", d, a)[..., None]
            d *= a
            d *= scale

        for_blocks(softmax_backward_rows, len(ds), ds.size)
        dq = ds @ k                                                   # (B, H, T, D)
        dk = ds.swapaxes(-1, -2) @ q                                  # (B, H, S, D)
        return [dq, dk, dv]

    def composite(q, k, v, is_causal, scale, dropout_mask):
        att = (q @ k.swapaxes(-1, -2)) * scale                        # (B, H, T, S)
        if is_causal:
            att = att + Tensor._wrap(causal_mask(att.shape[-1], att.dtype)[-att.shape[-2]:])
        att = Softmax.apply(att, axis=-1)
        if dropout_mask is not None:
            att = att * Tensor._wrap(dropout_mask)
        return att @ v
