"""Checking each leaf's gradient on the picture: float64 central differences.

The recorded graph is replayed from its nodes (`node.op.apply(*parents, **attrs)`,
in topological order) with every floating-point leaf converted to float64. The
analytic gradient comes from `engine.grad` on that replay, the numerical one from
(f(x + eps) - f(x - eps)) / 2 eps at a few elements of each leaf. In float64,
eps = 1e-4 balances rounding (which grows as eps shrinks) against truncation
(which grows with eps): correct gradients of size 1e-6 still agree to ~1e-6. The user's
tensors, their `.grad` and the recorded graph are left untouched.
"""
from dataclasses import dataclass

import numpy as np

from engine.autograd import grad
from engine.grad_mode import no_grad
from engine.tensor import Tensor


@dataclass
class LeafCheck:
    """The worst of the checked elements of one leaf: both numbers and their relative error."""
    analytic: float
    numeric: float
    rel_err: float
    element: tuple
    checked: int


def relative_error(a, n, floor=1e-8):
    """|a - n| / max(|a|, |n|, floor): relative for normal gradients, absolute near zero."""
    return abs(a - n) / max(abs(a), abs(n), floor)


def _as64(a):
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def _replay(tensors, root, values):
    """Recompute `root` from the leaves' float64 `values` by re-applying every recorded op."""
    out = {}
    for t in tensors:
        if t._ctx is None:
            out[id(t)] = values[id(t)] if id(t) in values else Tensor._wrap(_as64(t.data))
        else:
            node = t._ctx
            out[id(t)] = node.op.apply(*[out[id(p)] for p in node.parents], **node.attrs)
    return out[id(root)]


def _scalar(y, weights):
    return y.sum() if weights is None else (y * Tensor._wrap(weights)).sum()


def _picked(size, k):
    """Up to `k` flat indices spread evenly over `size` elements."""
    return sorted(set(np.linspace(0, size - 1, num=min(size, k)).round().astype(int).tolist()))


def check_leaves(tensors, root, leaves, eps=1e-4, elements=8):
    """{id(leaf): LeafCheck} for each leaf tensor in `leaves` that requires grad.

    `tensors` is every tensor of the graph, parents first. A non-scalar root is
    reduced with fixed random weights so that all its elements count.
    """
    leaves = [t for t in leaves if t.requires_grad and t.data.size]
    weights = None if root.data.size == 1 else np.random.default_rng(0).standard_normal(root.shape)
    xs = {id(t): Tensor(_as64(t.data).copy(), requires_grad=True) for t in leaves}
    if not xs:
        return {}
    s = _scalar(_replay(tensors, root, xs), weights)
    analytic = grad(s, [xs[id(t)] for t in leaves], allow_unused=True)
    results = {}
    with no_grad():
        for t, g in zip(leaves, analytic):
            x = xs[id(t)]
            flat = x.data.reshape(-1)
            g = np.zeros(x.shape) if g is None else g.data
            picks = _picked(flat.size, elements)
            worst = None
            for j in picks:
                orig = flat[j]
                flat[j] = orig + eps
                up = _scalar(_replay(tensors, root, xs), weights).item()
                flat[j] = orig - eps
                down = _scalar(_replay(tensors, root, xs), weights).item()
                flat[j] = orig
                n = (up - down) / (2 * eps)
                a = float(g.reshape(-1)[j])
                err = relative_error(a, n)
                if worst is None or not err <= worst.rel_err:
                    where = tuple(int(k) for k in np.unravel_index(j, x.shape)) if x.shape else ()
                    worst = LeafCheck(a, n, err, where, len(picks))
            results[id(t)] = worst
    return results
