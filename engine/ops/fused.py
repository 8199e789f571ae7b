"""Fused ops: one kernel forward and one backward, where that is measurably faster than
chaining primitives. Each states its math here, including its `composite` (the same
function from primitive ops), which the engine differentiates when the backward pass
itself is recorded, and which the tests compare against; the kernels it calls
(engine/kernels/) compute the same thing fast.

`FusedOp` is what they share: a backward in plain numpy (`backward_arrays`) and, when a
graph of the backward pass is wanted, the composite differentiated instead.
"""
import math

import numpy as np

from engine import autograd, kernels  # autograd the module, not its names: it may be half-loaded here
from engine.grad_mode import state
from engine.ops.base import Op
from engine.ops.elementwise import Erf
from engine.tensor import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class FusedOp(Op):
    """An op with a numpy backward, and a composite of primitives for higher orders."""

    def backward(ctx, g, out):
        op = ctx.op
        if not state.grad_enabled:
            return tuple(None if a is None else Tensor._wrap(a) for a in op.backward_arrays(ctx, g.data))
        aliases = [p.reshape(p.shape) for p in ctx.parents]  # fresh nodes: the composite's own inputs
        y = op.composite(*aliases, **ctx.attrs)
        wanted = [a for a, p in zip(aliases, ctx.parents) if p.requires_grad]
        found = iter(autograd.run_backward([y], [g], retain_graph=True, create_graph=True,
                                           inputs=wanted, allow_unused=True, stop_at_inputs=True))
        return tuple(next(found) if p.requires_grad else None for p in ctx.parents)


class LayerNorm(FusedOp):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last `n_axes` axes

    Per normalised slice (a row of D elements), with x̂ = (x - mean) / σ the normalised
    row, σ = sqrt(var + eps), and ĝ = g·weight the gradient arriving at x̂:
        dx = (ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) / σ,   dweight = Σ_rows g·x̂,   dbias = Σ_rows g
    """
    name = "layer_norm"

    def derivative(ctx, index, names):
        roles = ["x"] + ["weight"] * ctx.attrs["has_weight"] + ["bias"] * ctx.attrs["has_bias"]
        return {"x": "(ĝ - mean ĝ - x̂·mean(ĝ·x̂)) / σ, ĝ = g·weight", "weight": "d y/d weight = x̂",
                "bias": "d y/d bias = 1"}[roles[index]]

    def forward(ctx, x, *affine, n_axes, eps, has_weight, has_bias):
        rows = x.reshape(-1, math.prod(x.shape[x.ndim - n_axes:]))      # (N, D): one row per normalised slice
        weight = affine[0].reshape(-1) if has_weight else None           # (D,)
        bias = affine[-1].reshape(-1) if has_bias else None              # (D,)
        y, xhat, rstd = kernels.layer_norm(rows, weight, bias, eps)      # (N, D), (N, D), (N, 1): rstd = 1/σ
        ctx.saved = (xhat, rstd)
        return y.reshape(x.shape)

    def backward_arrays(ctx, g):
        xhat, rstd = ctx.saved                                           # (N, D), (N, 1)
        a, parents = ctx.attrs, ctx.parents
        weight = parents[1].data.reshape(-1) if a["has_weight"] else None
        dx, dweight, dbias = kernels.layer_norm_backward(g.reshape(xhat.shape), xhat, rstd, weight, a["has_bias"])
        grads = [dx.reshape(parents[0].shape)]
        if a["has_weight"]:
            grads.append(dweight.reshape(parents[1].shape))
        if a["has_bias"]:
            grads.append(dbias.reshape(parents[-1].shape))
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


class Gelu(FusedOp):
    """y = x·Φ(x), Φ the normal CDF (approximate='none'), or its tanh approximation
    y = x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2 (approximate='tanh')

    dy/dx = Φ(x) + x·φ(x), φ the normal density; for the tanh form, with th its tanh,
    dy/dx = (1 + th)/2 + x·(1 - th²)·√(2/π)·(1 + 3·0.044715·x²)/2.
    """
    elementwise = True
    name = "gelu"
    derivatives = ("d gelu({x})/d {x} = Φ({x}) + {x}·φ({x})",)

    def forward(ctx, x, approximate):
        if approximate == "tanh":
            th = np.tanh((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI)
            ctx.saved = th
            return x * (th + 1.0) * 0.5
        y, slope = kernels.gelu(x, with_slope=ctx.recorded)  # the slope only when backward can need it
        ctx.saved = slope                                                # dy/dx, if the kernel kept it (else None)
        return y

    def backward_arrays(ctx, g):
        if ctx.attrs["approximate"] == "tanh":
            x = ctx.parents[0].data
            th = ctx.saved
            inner = (x * x * (3 * 0.044715) + 1.0) * _SQRT_2_OVER_PI
            return [g * ((th + 1.0) * 0.5 + x * (1.0 - th * th) * inner * 0.5)]
        return [kernels.gelu_backward(g, ctx.parents[0].data, ctx.saved)]  # g · dy/dx

    def composite(x, approximate):
        if approximate == "tanh":
            th = ((x + x * x * x * 0.044715) * _SQRT_2_OVER_PI).tanh()
            return x * (th + 1.0) * 0.5
        return x * (Erf.apply(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5
