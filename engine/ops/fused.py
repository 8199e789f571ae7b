"""Fused ops: one numpy kernel forward and one backward, where that is measurably
faster than chaining primitives. Each also states its `composite` (the same function
from primitive ops), which the engine differentiates when the backward pass itself is
recorded, and which the tests compare against.
"""
import math

import numpy as np

from engine.ops.base import FusedOp
from engine.grad_mode import state
from engine.parallel import for_blocks
from engine.ops.elementwise import Erf, erf_array, erf_tail

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_INV_SQRT_2PI = -0.5 * math.log(2.0 * math.pi)


class LayerNorm(FusedOp):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last `n_axes` axes"""
    name = "layer_norm"

    def derivative(ctx, index, names):
        roles = ["x"] + ["weight"] * ctx.attrs["has_weight"] + ["bias"] * ctx.attrs["has_bias"]
        return {"x": "(ĝ - mean ĝ - x̂·mean(ĝ·x̂)) / σ, ĝ = g·weight", "weight": "d y/d weight = x̂",
                "bias": "d y/d bias = 1"}[roles[index]]

    def forward(ctx, x, *affine, n_axes, eps, has_weight, has_bias):
        d = math.prod(x.shape[x.ndim - n_axes:])
        x2 = x.reshape(-1, d)                                         # (N, D): one row per normalised slice
        xhat = np.empty_like(x2)                                      # (N, D)
        rstd = np.empty((len(x2), 1), dtype=x.dtype)                  # (N, 1)
        y = np.empty_like(x2)                                         # (N, D)
        w = affine[0].reshape(-1) if has_weight else None
        mean_of_row = np.full(d, 1.0 / d, dtype=x.dtype)             # (D,)
        b = affine[-1].reshape(-1) if has_bias else None

        def rows(s, e):
            xc = xhat[s:e]
            np.subtract(x2[s:e], (x2[s:e] @ mean_of_row)[:, None], out=xc)  # row means by BLAS gemv: 5x np.mean
            var = np.einsum("ij,ij->i", xc, xc)[:, None] * (1.0 / d)
            np.sqrt(var + eps, out=rstd[s:e])
            np.reciprocal(rstd[s:e], out=rstd[s:e])
            xc *= rstd[s:e]
            out = y[s:e]
            if has_weight:
                np.multiply(xc, w, out=out)
            else:
                out[...] = xc
            if has_bias:
                out += b

        for_blocks(rows, len(x2), x2.size)
        ctx.saved = (xhat, rstd)
        return y.reshape(x.shape)

    def backward_arrays(ctx, g):
        xhat, rstd = ctx.saved                                        # (N, D), (N, 1)
        a = ctx.attrs
        g2 = g.reshape(xhat.shape)                                    # (N, D)
        w = ctx.parents[1].data.reshape(-1) if a["has_weight"] else None
        d = xhat.shape[1]
        mean_of_row = np.full(d, 1.0 / d, dtype=xhat.dtype)          # (D,)
        dx = np.empty_like(xhat)                                      # (N, D)

        def rows(s, e):
            gs, xs, out = g2[s:e], xhat[s:e], dx[s:e]
            dxhat = gs * w if w is not None else gs                   # (n, D)
            c1 = (dxhat @ mean_of_row)[:, None]                       # (n, 1)
            c2 = np.einsum("ij,ij->i", dxhat, xs)[:, None] * (1.0 / d)
            np.multiply(xs, c2, out=out)
            np.subtract(dxhat, out, out=out)
            out -= c1
            out *= rstd[s:e]
            dw = np.einsum("ij,ij->j", gs, xs) if w is not None else None
            db = np.ones(len(gs), dtype=gs.dtype) @ gs if a["has_bias"] else None
            return dw, db

        parts = for_blocks(rows, len(xhat), xhat.size)
        grads = [dx.reshape(ctx.parents[0].shape)]
        if a["has_weight"]:
            grads.append(sum(p[0] for p in parts).reshape(ctx.parents[1].shape))
        if a["has_bias"]:
            grads.append(sum(p[1] for p in parts).reshape(ctx.parents[-1].shape))
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


def gelu_cdf(x, density=None):
    """(Phi(x), phi(x)): the normal CDF GELU multiplies by, and the normal density.

    The density is written into `density` when given (an array shaped like x).
    """
    if x.dtype == np.float64:
        cdf = erf_array(x * (1.0 / math.sqrt(2.0)))
        cdf += 1.0
        cdf *= 0.5
        e = np.exp(x * x * -0.5) * _INV_SQRT_2PI
        if density is None:
            return cdf, e
        density[...] = e
        return cdf, density
    a = np.abs(x, out=density)
    a *= 1.0 / math.sqrt(2.0)
    q, e = erf_tail(a, scale=0.5, log_factor=_LOG_INV_SQRT_2PI)   # q*e = (1 - erf(|x|/sqrt 2))/2
    q *= e
    np.subtract(0.5, q, out=q)
    np.copysign(q, x, out=q)
    q += 0.5
    return q, e


class Gelu(FusedOp):
    """x * Phi(x) (approximate='none') or its tanh approximation (approximate='tanh')"""
    elementwise = True
    name = "gelu"
    derivatives = ("d gelu({x})/d{x} = Φ({x}) + {x}·φ({x})",)

    def forward(ctx, x, approximate):
        if approximate == "tanh":
            th = np.tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI)
            ctx.saved = th
            return x * (th + 1.0) * 0.5
        flat = x.reshape(-1)
        y = np.empty_like(flat)
        slope = np.empty_like(flat) if state.grad_enabled and ctx.parents[0].requires_grad else None

        def block(s, e):
            cdf, density = gelu_cdf(flat[s:e], density=None if slope is None else slope[s:e])
            np.multiply(flat[s:e], cdf, out=y[s:e])
            if slope is not None:                                     # d/dx x*Phi(x) = Phi(x) + x*phi(x)
                density *= flat[s:e]
                density += cdf

        for_blocks(block, flat.size, flat.size)
        ctx.saved = slope                                             # backward is then one multiply
        return y.reshape(x.shape)

    def backward_arrays(ctx, g):
        if ctx.attrs["approximate"] == "tanh":
            x = ctx.parents[0].data
            th = ctx.saved
            inner = (x * x * (3 * 0.044715) + 1.0) * _SQRT_2_OVER_PI
            return [g * ((th + 1.0) * 0.5 + x * (1.0 - th * th) * inner * 0.5)]
        slope, gf = ctx.saved, g.reshape(-1)
        d = np.empty_like(gf)

        def block(s, e):
            np.multiply(gf[s:e], slope[s:e], out=d[s:e])

        for_blocks(block, gf.size, gf.size)
        return [d.reshape(g.shape)]

    def composite(x, approximate):
        if approximate == "tanh":
            th = ((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI).tanh()
            return x * (th + 1.0) * 0.5
        return x * (Erf.apply(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
