"""Array kernels: matrix products in the shape BLAS is fastest at, and scatter-adds of rows.

numpy's fast paths, measured: a stack of matrices times one matrix, (B, T, C) @ (C, N),
ran 2x slower as numpy's batched loop than reshaped to one (B*T, C) @ (C, N) product;
adding rows of g into z at repeated row indices by sort + `np.add.reduceat` is ~7x
faster than `np.add.at`.
"""
import numpy as np


def matmul(a, b):
    """a @ b with numpy's semantics; a stack of matrices times one matrix runs as one 2-D product."""
    if a.ndim > 2 and b.ndim == 2:
        return (a.reshape(-1, a.shape[-1]) @ b).reshape(a.shape[:-1] + (b.shape[1],))
    return a @ b


def add_at(z, idx, g):
    """z[idx] += g in place, repeated indices accumulating (numpy's `np.add.at`)."""
    if len(idx) == 1 and z.ndim == 2 and idx[0].ndim >= 1:
        _add_rows(z, idx[0].reshape(-1), g.reshape(-1, z.shape[1]))
    else:
        np.add.at(z, idx, g)


def _add_rows(z, rows, g):
    """z[rows] += g with repeated rows accumulating: sort the rows, sum each run, add once."""
    if rows.size == 0:
        return
    if rows.min() < 0:
        rows = np.where(rows < 0, rows + z.shape[0], rows)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    z[sorted_rows[starts]] += np.add.reduceat(g[order], starts, axis=0)
