"""Softmax, log-softmax, log-sum-exp and cross-entropy: stable at any logit scale.

Each subtracts the running maximum before exponentiating, so nothing overflows; a
slice that is entirely -inf is handled without producing NaN in the shift. The
probabilities that softmax and cross-entropy keep have values below 1e-30 set to 0
(`kernels.flush_tiny`): float32 denormals would slow the matmuls they meet ~100x.
"""
import numpy as np

from engine import kernels
from engine.errors import ShapeError
from engine.grad_mode import state
from engine.ops.base import Op
from engine.ops.reduce import kept_shape, normalize_axes
from engine.tensor import Tensor


def _shifted(x, axis):
    """x - max(x) along axis, and that max (0 where the max is not finite)."""
    m = x.max(axis=axis, keepdims=True)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
    return x - m, m


class Softmax(Op):
    """exp(x) / sum(exp(x)) along an axis"""
    uses_output = True
    name = "softmax"
    derivatives = ("d softmax: s·(g - Σ g·s)",)

    def forward(ctx, x, axis):
        e = np.exp(_shifted(x, axis)[0])
        return kernels.flush_tiny(e / e.sum(axis=axis, keepdims=True))

    def backward(ctx, g, out):
        return out * (g - (g * out).sum(ctx.attrs["axis"], keepdims=True))


class LogSoftmax(Op):
    """x - logsumexp(x) along an axis"""
    uses_output = True
    name = "log_softmax"
    derivatives = ("d log_softmax: g - softmax({x})·Σg",)

    def forward(ctx, x, axis):
        s, _ = _shifted(x, axis)
        with np.errstate(divide="ignore"):
            lse = np.log(np.exp(s).sum(axis=axis, keepdims=True))
        s -= lse
        return s

    def backward(ctx, g, out):
        return g - out.exp() * g.sum(ctx.attrs["axis"], keepdims=True)


class LogSumExp(Op):
    """log(sum(exp(x))) along axes"""
    uses_output = True
    name = "logsumexp"
    derivatives = ("d lse({x})/d {x} = softmax({x})",)

    def forward(ctx, x, axis, keepdims):
        s, m = _shifted(x, axis)
        with np.errstate(divide="ignore"):
            out = np.log(np.exp(s).sum(axis=axis, keepdims=True)) + m
        return out if keepdims else out.reshape([d for i, d in enumerate(out.shape)
                                                 if i not in normalize_axes(axis, x.ndim)])

    def backward(ctx, g, out):
        x = ctx.parents[0]
        keep = kept_shape(x.shape, ctx.attrs["axis"])
        return g.reshape(keep) * (x - out.reshape(keep)).exp()


class CrossEntropy(Op):
    """mean (or sum, or per-item) of -log softmax(logits)[target]; logits (..., C), targets (...)"""
    name = "cross_entropy"

    def derivative(ctx, index, names):
        rule = "softmax(logits) - onehot(targets)"
        return {"mean": f"({rule}) / N", "sum": rule, "none": f"{rule}, per item"}[ctx.attrs["reduction"]]

    def forward(ctx, x, targets, reduction, ignore_index):
        n_class = x.shape[-1]
        if targets.shape != x.shape[:-1]:
            raise ShapeError(f"cross_entropy: targets of shape {targets.shape} do not fit logits of shape "
                             f"{x.shape} (expected targets of shape {x.shape[:-1]})")
        x2 = x.reshape(-1, n_class)                                   # (N, C)
        t = targets.reshape(-1)                                       # (N,)
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= n_class))
        if bad.any():
            raise ValueError(f"cross_entropy: target {t[bad][0]} is out of range for {n_class} classes")
        t = np.where(valid, t, 0)
        losses, probs = kernels.cross_entropy(x2, t)                  # (N,) logsumexp - logit of target, (N, C)
        losses = losses * valid
        ctx.saved = (probs, t, valid)                                 # softmax, kept for backward
        if reduction == "none":
            return losses.reshape(targets.shape)
        if reduction == "sum":
            return losses.sum()
        return losses.sum() / float(valid.sum())  # a Python float keeps float32 logits float32

    def backward(ctx, g, out):
        x = ctx.parents[0]
        probs, t, valid = ctx.saved
        n_class = x.shape[-1]
        weight = valid.astype(probs.dtype)[:, None]                   # (N, 1)
        reduction = ctx.attrs["reduction"]
        if reduction == "none":
            w = g.reshape(-1, 1) * Tensor._wrap(weight)
        elif reduction == "sum":
            w = g * Tensor._wrap(weight)
        else:
            w = g * Tensor._wrap(weight / max(int(valid.sum()), 1))
        if not state.grad_enabled:                                    # (softmax - onehot) * w, as arrays
            return Tensor._wrap(kernels.cross_entropy_backward(probs, t, w.data).reshape(x.shape))
        p = Softmax.apply(x.reshape(-1, n_class), axis=-1)  # recording the backward: softmax stays in the graph
        onehot = np.zeros(probs.shape, dtype=probs.dtype)
        onehot[np.arange(len(t)), t] = 1.0
        return ((p - Tensor._wrap(onehot)) * w).reshape(x.shape)
