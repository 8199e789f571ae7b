"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""
import numpy as np

from optim.optimizer import Optimizer, _norm, check_hparam, check_nonneg


class SGD(Optimizer):
    """The seed's single step, θ ← θ − lr·g, with PyTorch's refinements.

    `SGD(params, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0,
    maximize=False)`; per parameter (PyTorch's `torch.optim.SGD` rule)::

        g = -grad if maximize else grad
        g = g + weight_decay * θ                          (if weight_decay)
        b = g at the first step, else momentum*b + (1-dampening)*g   (if momentum)
        g = g + momentum*b if nesterov else b                         (if momentum)
        θ = θ - lr * g

    State: `momentum_buffer` (only with momentum).
    """

    def __init__(self, params, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0, maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        check_nonneg(name, "momentum", group["momentum"])
        check_nonneg(name, "weight_decay", group["weight_decay"])
        if group["nesterov"]:
            check_hparam(name, "nesterov", group["nesterov"], group["momentum"] > 0 and group["dampening"] == 0,
                         f"False unless momentum > 0 and dampening == 0; got momentum {group['momentum']!r} "
                         f"and dampening {group['dampening']!r}")

    def _update(self, param, grad, state, group):
        lr, momentum = float(group["lr"]), float(group["momentum"])
        k = self.kernels
        g = k.gradient(param, grad, float(group["weight_decay"]), group["maximize"])  # g = ±∇ + λ·θ
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=param.dtype, copy=True)  # b = g
            else:
                k.momentum_(buf, g, momentum, float(group["dampening"]))  # b ← μ·b + (1 − τ)·g
            g = k.nesterov(g, buf, momentum) if group["nesterov"] else buf  # g + μ·b, or b
        k.sub_scaled_(param, g, lr)                                         # θ ← θ − α·g

    def _explain(self, group, before, grad, state):
        lr, mu, tau = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        g, rule = self._explained_grad(before, grad, group)
        quantities = [("α = lr", lr)] + ([("g (the gradient the rule uses)", g)] if rule else [])
        if mu == 0:
            return "; ".join(rule + ["θ ← θ − α·g"]), quantities + [("α·g, the step", lr * g)]
        b = state["momentum_buffer"].astype(np.float64)
        rule.append(f"b ← μ·b + {'g' if tau == 0 else '(1 − τ)·g'} (b = g at the first step)")
        quantities += [("μ = momentum", mu)] + ([("τ = dampening", tau)] if tau else [])
        quantities.append(("b, the momentum buffer", b))
        if group["nesterov"]:
            return ("; ".join(rule + ["θ ← θ − α·(g + μ·b)"]),
                    quantities + [("α·(g + μ·b), the step", lr * (g + mu * b))])
        return "; ".join(rule + ["θ ← θ − α·b"]), quantities + [("α·b, the step", lr * b)]

    def _param_stats(self, p, group):
        stats = super()._param_stats(p, group)
        buf = (self.state.get(p) or {}).get("momentum_buffer")
        if buf is not None:
            stats["momentum_buffer_norm"] = _norm(buf)
        return stats
