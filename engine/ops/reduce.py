"""Reductions (sum, max, min) and the two broadcasting ops that are each other's gradient."""
import numpy as np

from engine.ops.base import Op
from engine.tensor import Tensor


def normalize_axes(axis, ndim):
    """`axis` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(out))


def kept_shape(shape, axis):
    """The shape of a reduction over `axis` with keepdims=True."""
    axes = normalize_axes(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def reduced_axes(src, dst):
    """The axes of shape `src` that summing a broadcast array back to shape `dst` reduces."""
    lead = len(src) - len(dst)
    return tuple(range(lead)) + tuple(i + lead for i, s in enumerate(dst) if s == 1 and src[i + lead] != 1)


def sum_to_array(a, shape):
    """Sum the broadcast dimensions of `a` away so that it has `shape`."""
    axes = reduced_axes(a.shape, shape)
    if axes:
        a = a.sum(axis=axes, keepdims=True)
    return a.reshape(shape)


class Sum(Op):
    """sum over axes"""
    name = "sum"
    derivatives = ("1: g copied to every summed element",)

    def forward(ctx, x, axis, keepdims):
        return x.sum(axis=axis, keepdims=keepdims)

    def backward(ctx, g, out):
        x = ctx.parents[0]
        if not ctx.attrs["keepdims"]:
            g = g.reshape(kept_shape(x.shape, ctx.attrs["axis"]))
        return g.broadcast_to(x.shape)


class SumTo(Op):
    """sum broadcast dimensions away: the gradient of broadcasting"""
    name = "sum_to"
    derivatives = ("1: g broadcast back",)

    def forward(ctx, x, shape):
        return sum_to_array(x, shape)

    def backward(ctx, g, out):
        return g.broadcast_to(ctx.parents[0].shape)


class Expand(Op):
    """broadcast to a larger shape (a read-only view): the gradient of a sum"""
    name = "expand"
    derivatives = ("1: g summed over the broadcast axes",)

    def forward(ctx, x, shape):
        return np.broadcast_to(x, shape)

    def backward(ctx, g, out):
        return g.sum_to(ctx.parents[0].shape)


class _Extreme(Op):
    """max or min over axes; tied elements share the gradient equally"""
    uses_output = True

    def backward(ctx, g, out):
        x = ctx.parents[0]
        keep = kept_shape(x.shape, ctx.attrs["axis"])
        hit = x.data == out.data.reshape(keep)
        share = hit / hit.sum(axis=ctx.attrs["axis"], keepdims=True)
        return g.reshape(keep) * Tensor._wrap(share.astype(x.data.dtype))


class Max(_Extreme):
    """maximum over axes"""
    name = "max"
    derivatives = ("1 at the maximum (shared at ties), else 0",)

    def forward(ctx, x, axis, keepdims):
        return x.max(axis=axis, keepdims=keepdims)


class Min(_Extreme):
    """minimum over axes"""
    name = "min"
    derivatives = ("1 at the minimum (shared at ties), else 0",)

    def forward(ctx, x, axis, keepdims):
        return x.min(axis=axis, keepdims=keepdims)
