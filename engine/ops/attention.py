"""Scaled dot-product attention as one fused op (nanoGPT's `F.scaled_dot_product_attention` path).

softmax(q @ k^T * scale + causal mask) @ v for q, k, v of shape (B, H, T, D). One
kernel keeps the (B, H, T, T) attention matrix once, instead of the six graph
nodes (and their temporaries) the same function costs as primitives.
"""
import numpy as np

from engine import kernels
from engine.ops.fused import FusedOp
from engine.ops.softmax import Softmax
from engine.tensor import Tensor


class Attention(FusedOp):
    """y = P @ v with P = softmax(q @ kᵀ · scale [+ causal mask]) [· dropout mask]

    With dP = g @ vᵀ and dS = P·(dP - Σ_row P·dP)·scale (the softmax's backward):
        dq = dS @ k,   dk = dSᵀ @ q,   dv = Pᵀ @ g

    Parents are q, k, v, or one packed tensor qkv of shape (3, B, H, T, D): then the
    gradient is one array too, instead of three that the engine pads and adds.
    """
    name = "attention"

    def derivative(ctx, index, names):  # in q, k, v whatever the inputs are called: their names are long
        if len(ctx.parents) == 1:
            return "(dq, dk, dv) = (dS @ k, dSᵀ @ q, Pᵀ @ g), dS = P·(dP - Σ P·dP)·scale, dP = g @ vᵀ"
        return ("dq = dS @ k, dS = P·(dP - Σ P·dP)·scale, P = softmax, dP = g @ vᵀ", "dk = dSᵀ @ q",
                "dv = Pᵀ @ g")[index]

    def forward(ctx, *qkv, is_causal, scale, dropout_mask):
        q, k, v = qkv[0] if len(qkv) == 1 else qkv                         # (B, H, T, D) each
        y, ctx.saved = kernels.attention(q, k, v, is_causal, scale, dropout_mask)  # y (B, H, T, D), P (B, H, T, S)
        return y

    def backward_arrays(ctx, g):
        packed = ctx.parents[0].data if len(ctx.parents) == 1 else None  # (3, B, H, T, D) or None
        q, k, v = packed if packed is not None else (p.data for p in ctx.parents)
        grads = kernels.attention_backward(g, ctx.saved, q, k, v, ctx.attrs["scale"], ctx.attrs["dropout_mask"],
                                           packed=packed)
        return [grads] if packed is not None else list(grads)

    def composite(*qkv, is_causal, scale, dropout_mask):
        q, k, v = (qkv[0][0], qkv[0][1], qkv[0][2]) if len(qkv) == 1 else qkv
        att = (q @ k.swapaxes(-1, -2)) * scale                            # (B, H, T, S)
        if is_causal:  # query i sees keys up to S - T + i: -inf above that diagonal
            t, s = att.shape[-2:]
            att = att + Tensor._wrap(np.triu(np.full((s, s), -np.inf, dtype=att.dtype), k=1)[-t:])
        att = Softmax.apply(att, axis=-1)
        if dropout_mask is not None:
            att = att * Tensor._wrap(dropout_mask)
        return att @ v
