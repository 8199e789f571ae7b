"""Fused ops: one numpy kernel forward and one backward, where that is measurably
faster than chaining primitives. Each also states its `composite` (the same function
from primitive ops), which the engine differentiates when the backward pass itself is
recorded, and which the tests compare against.
"""
import math

import numpy as np

from engine.ops.base import FusedOp
from engine.ops.elementwise import Erf, erf_array, erf_tail

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class LayerNorm(FusedOp):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last `n_axes` axes"""
    name = "layer_norm"

    def forward(ctx, x, *affine, n_axes, eps, has_weight, has_bias):
        axes = tuple(range(x.ndim - n_axes, x.ndim))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = (xc * xc).mean(axis=axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + eps)
        xhat = xc * rstd
        ctx.saved = (xhat, rstd)
        y = xhat
        if has_weight:
            y = y * affine[0]
        if has_bias:
            y = y + affine[-1]
        return y

    def backward_arrays(ctx, g):
        xhat, rstd = ctx.saved
        a = ctx.attrs
        x = ctx.parents[0]
        axes = tuple(range(x.ndim - a["n_axes"], x.ndim))
        batch = tuple(range(x.ndim - a["n_axes"]))
        grads = []
        dxhat = g * ctx.parents[1].data if a["has_weight"] else g
        dx = dxhat - dxhat.mean(axis=axes, keepdims=True)
        dx -= xhat * (dxhat * xhat).mean(axis=axes, keepdims=True)
        dx *= rstd
        grads.append(dx)
        if a["has_weight"]:
            grads.append((g * xhat).sum(axis=batch))
        if a["has_bias"]:
            grads.append(g.sum(axis=batch))
        return grads

    def composite(x, *affine, n_axes, eps, has_weight, has_bias):
        axes = tuple(range(x.ndim - n_axes, x.ndim))
        xc = x - x.mean(axes, keepdims=True)
        y = xc * ((xc * xc).mean(axes, keepdims=True) + eps) ** -0.5
        if has_weight:
            y = y * affine[0]
        if has_bias:
            y = y + affine[-1]
        return y


def gelu_cdf(x):
    """(Phi(x), exp(-x*x/2)): the normal CDF GELU multiplies by, and the unscaled density."""
    if x.dtype == np.float64:
        cdf = erf_array(x * (1.0 / math.sqrt(2.0)))
        cdf += 1.0
        cdf *= 0.5
        return cdf, np.exp(x * x * -0.5)
    q, e = erf_tail(np.abs(x) * (1.0 / math.sqrt(2.0)), scale=0.5)   # 1 - 2q*e = erf(|x|/sqrt 2)
    q *= e
    np.subtract(0.5, q, out=q)
    np.copysign(q, x, out=q)
    q += 0.5
    return q, e


class Gelu(FusedOp):
    """x * Phi(x) (approximate='none') or its tanh approximation (approximate='tanh')"""
    name = "gelu"

    def forward(ctx, x, approximate):
        if approximate == "tanh":
            th = np.tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI)
            ctx.saved = th
            return x * (th + 1.0) * 0.5
        cdf, density = gelu_cdf(x)
        ctx.saved = (cdf, density)
        return x * cdf

    def backward_arrays(ctx, g):
        x = ctx.parents[0].data
        if ctx.attrs["approximate"] == "tanh":
            th = ctx.saved
            inner = (x * x * (3 * 0.044715) + 1.0) * _SQRT_2_OVER_PI
            return [g * ((th + 1.0) * 0.5 + x * (1.0 - th * th) * inner * 0.5)]
        cdf, density = ctx.saved
        d = x * density                                    # d/dx x*Phi(x) = Phi(x) + x*phi(x)
        d *= _INV_SQRT_2PI
        d += cdf
        d *= g
        return [d]

    def composite(x, approximate):
        if approximate == "tanh":
            th = ((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI).tanh()
            return x * (th + 1.0) * 0.5
        return x * (Erf.apply(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
