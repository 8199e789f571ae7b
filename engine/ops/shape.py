"""Ops that move elements around: reshape, transpose, indexing, concatenation, casts."""
import numpy as np

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
            z[idx] = g
        elif len(idx) == 1 and z.ndim == 2 and idx[0].ndim >= 1:
            _add_rows(z, idx[0].reshape(-1), g.reshape(-1, z.shape[1]))
        else:
            np.add.at(z, idx, g)
        return z

    def backward(ctx, g, out):
        return Index.apply(g, idx=ctx.attrs["idx"], basic=ctx.attrs["basic"])


def _add_rows(z, rows, g):
    """z[rows] += g with repeated rows accumulating: sort + reduceat, ~7x faster than np.add.at."""
    if rows.size == 0:
        return
    if rows.min() < 0:
        rows = np.where(rows < 0, rows + z.shape[0], rows)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    z[sorted_rows[starts]] += np.add.reduceat(g[order], starts, axis=0)


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
