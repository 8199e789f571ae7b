"""Matrix product with numpy's semantics (1-D vectors, broadcast batch dimensions)."""
import numpy as np

from engine import kernels
from engine.errors import ShapeError
from engine.ops.base import Op


def _check(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
            f"{k_a} (last axis of the first) != {k_b} "
            f"({'axis 0' if b.ndim == 1 else 'second-to-last axis'} of the second)")


class MatMul(Op):
    """a @ b"""
    name = "matmul"
    inputs = ("a", "b")
    derivatives = ("d({a}@{b})/d {a}: g @ {b}ᵀ", "d({a}@{b})/d {b}: {a}ᵀ @ g")

    def forward(ctx, a, b):
        _check(a, b)
        return kernels.matmul(a, b)

    def backward(ctx, g, out):
        a, b = ctx.parents
        if a.ndim == 1 or b.ndim == 1:
            return _vector_backward(a, b, g)
        ga = g @ b.swapaxes(-1, -2) if a.requires_grad else None
        gb = None
        if b.requires_grad:
            if b.ndim == 2 and a.ndim > 2:
                gb = a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])  # (K, N) @ (N, M)
            else:
                gb = a.swapaxes(-1, -2) @ g
        return ga, gb


class Linear(Op):
    """x @ weight.T (+ bias), weight (out, in): one node, its gradient made in weight's own layout"""
    name = "linear"

    def derivative(ctx, index, names):
        x, w = names[:2]
        y = f"{x}@{w}ᵀ" + (f" + {names[2]}" if len(names) > 2 else "")
        return (f"d({y})/d {x}: g @ {w}", f"d({y})/d {w}: gᵀ @ {x}", f"d({y})/d {names[-1]}: g summed over rows")[index]

    def forward(ctx, x, w, *bias):
        _check(x, w.T)
        y = kernels.matmul(x, w.T)                                    # (..., out)
        if bias:
            y += bias[0]
        return y

    def backward(ctx, g, out):
        x, w = ctx.parents[:2]
        g2 = g.reshape(-1, g.shape[-1])                               # (N, out)
        gx = (g2 @ w).reshape(x.shape) if x.requires_grad else None    # (N, in)
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if w.requires_grad else None  # (out, in)
        if len(ctx.parents) == 2:
            return gx, gw
        return gx, gw, (g2.sum(0) if ctx.parents[2].requires_grad else None)


def _vector_backward(a, b, g):
    """Backward for 1-D operands: treat them as a row (a) or column (b) matrix."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    g2 = g.reshape(_promoted_shape(a2.shape, b2.shape))
    ga = gb = None
    if a.requires_grad:
        ga = (g2 @ b2.swapaxes(-1, -2)).sum_to(a2.shape).reshape(a.shape)
    if b.requires_grad:
        gb = (a2.swapaxes(-1, -2) @ g2).sum_to(b2.shape).reshape(b.shape)
    return ga, gb


def _promoted_shape(sa, sb):
    """The shape of a2 @ b2 for matrices (or stacks of them) of shapes sa and sb."""
    return np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])
