"""Newton's method: one step to the minimum of the local quadratic model.

The Hessian comes from double backward: the closure calls
`loss.backward(create_graph=True)`, so every `p.grad` is itself a graph, and
`engine.grad(p.grad, params, grad_outputs=v)` is a Hessian-vector product.
Small problems build the dense Hessian row by row (v = one-hot) and solve with
numpy.linalg; big ones solve with conjugate gradients on Hessian-vector products.
"""
import math

import numpy as np

from engine import Tensor, enable_grad, grad as autograd_grad
from optim.optimizer import Optimizer, check_hparam, check_nonneg


def _check_int(name, key, value, low):
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    check_hparam(name, key, value, ok, f"an integer >= {low}")


def conjugate_gradient(matvec, b, max_iter, tol):
    """Solve A x = b for symmetric A given only `matvec(v) = A v`.

    Stops when ||r|| <= tol * ||b|| or after `max_iter` iterations. On negative
    curvature (pᵀAp <= 0, A not positive definite) it stops and returns the
    iterate so far, or `b` itself if that happens at once (a gradient step).
    Returns (x, iterations).
    """
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rs = r.dot(r)
    b_norm = math.sqrt(rs)
    if b_norm == 0:
        return x, 0
    for it in range(1, max_iter + 1):
        ap = matvec(p)
        pap = p.dot(ap)
        if pap <= 0:
            return (b.copy() if it == 1 else x), it
        alpha = rs / pap
        x += alpha * p
        r -= alpha * ap
        rs_new = r.dot(r)
        if math.sqrt(rs_new) <= tol * b_norm:
            return x, it
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x, max_iter


class Newton(Optimizer):
    """Damped Newton's method with the exact Hessian from double backward.

    `Newton(params, lr=1, damping=0, max_dense=2000, cg_max_iter=100, cg_tol=1e-10)`.
    `step(closure)`: the closure zeroes the grads, computes the loss, calls
    `loss.backward(create_graph=True)` and returns the loss. Then::

        θ ← θ − lr · (H + damping·I)⁻¹ g

    With at most `max_dense` parameter elements the dense Hessian is built row by
    row and solved with `numpy.linalg.solve` (least squares if it is singular);
    beyond that, conjugate gradients on Hessian-vector products (at most
    `cg_max_iter` products; stops early on negative curvature). On a quadratic
    loss, such as least squares, one step with lr=1 lands on the minimum.
    Parameters whose grad is None after the closure are left alone. One group only;
    the linear algebra runs in float64. After the step `.grad` holds the detached
    gradient at the old point.

    State (on the first parameter): `step`, `solver` ('dense' or 'cg'),
    `cg_iters`, `newton_decrement` (sqrt(gᵀ(H + damping·I)⁻¹g), the predicted
    decrease is half its square).
    """

    def __init__(self, params, lr=1, damping=0, max_dense=2000, cg_max_iter=100, cg_tol=1e-10):
        defaults = dict(lr=lr, damping=damping, max_dense=max_dense, cg_max_iter=cg_max_iter, cg_tol=cg_tol)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("Newton doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        check_nonneg(name, "damping", group["damping"])
        check_nonneg(name, "cg_tol", group["cg_tol"])
        _check_int(name, "max_dense", group["max_dense"], 0)
        _check_int(name, "cg_max_iter", group["cg_max_iter"], 1)

    def step(self, closure):
        """One Newton step; returns the closure's loss (at the point before the step)."""
        if closure is None:
            raise ValueError("Newton.step needs a closure that zeroes the grads, computes the loss, "
                             "calls loss.backward(create_graph=True) and returns the loss")
        before = self._snapshot() if self.track_stats else None
        group = self.param_groups[0]
        with enable_grad():
            loss = closure()
        params = [p for p in self._params if p.grad is not None]
        if not params:
            raise RuntimeError("Newton: no parameter has a gradient; "
                               "the closure must call loss.backward(create_graph=True)")
        if not any(p.grad.requires_grad for p in params):
            raise RuntimeError(
                "Newton needs second derivatives, but no gradient carries a graph: the closure must call "
                "loss.backward(create_graph=True)")
        sizes = [p.data.size for p in params]
        offsets = np.cumsum([0] + sizes)
        g = np.concatenate([p.grad.data.reshape(-1).astype(np.float64) for p in params])
        damping = float(group["damping"])

        def hvp(v, blocks=range(len(params))):
            """(H v) for v nonzero only on the given parameter blocks."""
            outs, seeds = [], []
            for j in blocks:
                if params[j].grad.requires_grad:
                    outs.append(params[j].grad)
                    seeds.append(Tensor(v[offsets[j]:offsets[j + 1]].reshape(params[j].shape).astype(params[j].dtype)))
            if not outs:
                return np.zeros_like(v)
            rows = autograd_grad(outs, params, grad_outputs=seeds, retain_graph=True, allow_unused=True)
            return np.concatenate([np.zeros(n) if r is None else r.data.reshape(-1).astype(np.float64)
                                   for r, n in zip(rows, sizes)])

        n = g.size
        if n <= group["max_dense"]:
            H = np.empty((n, n))
            e = np.zeros(n)
            for j in range(len(params)):
                for k in range(offsets[j], offsets[j + 1]):
                    e[k] = 1.0
                    H[k] = hvp(e, (j,))
                    e[k] = 0.0
            H = 0.5 * (H + H.T)
            H[np.diag_indices(n)] += damping
            try:
                s = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                s = np.linalg.lstsq(H, g, rcond=None)[0]
            solver, iters = "dense", 0
        else:
            s, iters = conjugate_gradient(lambda v: hvp(v) + damping * v, g,
                                          group["cg_max_iter"], float(group["cg_tol"]))
            solver = "cg"

        lr = float(group["lr"])
        for j, p in enumerate(params):
            step = (lr * s[offsets[j]:offsets[j + 1]]).reshape(p.shape)
            np.subtract(p.data, step, out=p.data, casting="same_kind")
            p._changed_in_place()  # see Optimizer.step
            p.grad = p.grad.detach()
        state = self.state[self._params[0]]
        state["step"] = state.get("step", 0) + 1
        state.update(solver=solver, cg_iters=iters, newton_decrement=math.sqrt(max(float(g.dot(s)), 0.0)))
        self._finish_step(before)
        return loss

    def _param_stats(self, p, group):
        """Newton's view (the same for every parameter): solver and Newton decrement."""
        stats = super()._param_stats(p, group)
        st = self.state.get(self._params[0]) or {}
        stats.update({k: st.get(k) for k in ("solver", "cg_iters", "newton_decrement")})
        stats["damping"] = float(group["damping"])
        return stats
