"""Ops that move elements around: reshape, transpose, indexing, concatenation, casts."""
import numpy as np

from engine import kernels
from engine.ops.base import Op


class Reshape(Op):
    """the same elements in another shape"""
    name = "reshape"
    derivatives = ("1: g reshaped back",)

    def forward(ctx, x, shape):
        return x.reshape(shape)

    def backward(ctx, g, out):
        return g.reshape(ctx.parents[0].shape)


class Transpose(Op):
    """permute axes"""
    name = "transpose"
    derivatives = ("1: g transposed back",)

    def forward(ctx, x, axes):
        return x.transpose(axes)

    def backward(ctx, g, out):
        return g.transpose(tuple(np.argsort(ctx.attrs["axes"]).tolist()))


class Index(Op):
    """x[idx]: basic (ints, slices, None, ...) or integer-array indexing"""
    name = "index"
    derivatives = ("1 at the picked elements: g scattered into zeros",)

    def forward(ctx, x, idx, basic):
        return x[idx]

    def backward(ctx, g, out):
        return IndexAdd.apply(g, shape=ctx.parents[0].shape, idx=ctx.attrs["idx"], basic=ctx.attrs["basic"])


class IndexAdd(Op):
    """zeros(shape) with g added at idx (repeated indices accumulate): the gradient of indexing"""
    name = "index_add"
    derivatives = ("1: g gathered at the indices",)

    def forward(ctx, g, shape, idx, basic):
        z = np.zeros(shape, dtype=g.dtype)
        if basic:
            z[idx] = g             # basic indexing picks each element at most once
        else:
            kernels.add_at(z, idx, g)
        return z

    def backward(ctx, g, out):
        return Index.apply(g, idx=ctx.attrs["idx"], basic=ctx.attrs["basic"])


class Concatenate(Op):
    """join tensors along an existing axis"""
    name = "concatenate"

    def derivative(ctx, index, names):
        return f"1: input {index}'s slice of g"

    def forward(ctx, *xs, axis):
        return np.concatenate(xs, axis=axis)

    def backward(ctx, g, out):
        axis = ctx.attrs["axis"] % g.ndim
        grads, start = [], 0
        for p in ctx.parents:
            stop = start + p.shape[axis]
            if p.requires_grad:
                sl = (slice(None),) * axis + (slice(start, stop),)
                grads.append(Index.apply(g, idx=sl, basic=True))
            else:
                grads.append(None)
            start = stop
        return tuple(grads)


class Cast(Op):
    """convert to another dtype; the gradient is converted back"""
    name = "cast"
    derivatives = ("1: g cast back",)

    def forward(ctx, x, dtype):
        return x.astype(dtype)

    def backward(ctx, g, out):
        return g.astype(ctx.parents[0].data.dtype)
