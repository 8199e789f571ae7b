"""Adagrad: per-coordinate step sizes from the sum of all squared gradients."""
import numpy as np

from optim.optimizer import Optimizer, check_nonneg


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), PyTorch's `torch.optim.Adagrad` rule step for step.

    `Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, eps=1e-10,
    initial_accumulator_value=0, maximize=False)`; per parameter::

        t = t + 1
        g = -grad if maximize else grad
        g = g + weight_decay*θ                       (if weight_decay)
        clr = lr / (1 + (t-1)*lr_decay)
        s = s + g*g                                  (s starts at initial_accumulator_value)
        θ = θ - clr * g / (sqrt(s) + eps)

    State: `step`, `sum`.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, eps=1e-10, initial_accumulator_value=0,
                 maximize=False):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        for key in ("lr_decay", "weight_decay", "eps", "initial_accumulator_value"):
            check_nonneg(type(self).__name__, key, group[key])

    def _update(self, param, grad, state, group):
        if not state:
            state.update(step=0, sum=np.full_like(param, float(group["initial_accumulator_value"])))
        state["step"] += 1
        k = self.kernels
        g = k.gradient(param, grad, float(group["weight_decay"]), group["maximize"])   # g = ±∇ + λ·θ
        clr = float(group["lr"]) / (1 + (state["step"] - 1) * float(group["lr_decay"]))  # αₜ
        k.add_square_(state["sum"], g)                                                 # s ← s + g²
        k.divide_step_(param, g, k.denominator(state["sum"], float(group["eps"])), clr)  # θ ← θ − αₜ·g / (√s + ε)

    def _explain(self, group, before, grad, state):
        g, rule = self._explained_grad(before, grad, group)
        t = state["step"]
        clr = float(group["lr"]) / (1 + (t - 1) * float(group["lr_decay"]))
        s = state["sum"].astype(np.float64)
        rule += ["s ← s + g²", "η = lr/(1 + (t − 1)·lr_decay)", "θ ← θ − η·g/(√s + ε)"]
        quantities = [("t, the step count", t), ("η, the decayed lr", clr)]
        quantities += [("g (the gradient the rule uses)", g)] if len(rule) > 3 else []
        quantities += [("s, the sum of squared gradients", s),
                       ("η·g/(√s + ε), the step", clr * g / (np.sqrt(s) + float(group["eps"])))]
        return "; ".join(rule), quantities

    def _param_stats(self, p, group):
        """Adagrad's view: the decayed learning rate and the per-coordinate step size."""
        stats = super()._param_stats(p, group)
        st = self.state.get(p)
        if not st:
            return stats
        clr = float(group["lr"]) / (1 + (st["step"] - 1) * float(group["lr_decay"]))
        root = np.sqrt(st["sum"])
        stats.update({
            "step": st["step"],
            "clr": clr,
            "effective_lr_median": float(np.median(clr / (root + float(group["eps"])))) if root.size else None,
        })
        return stats
