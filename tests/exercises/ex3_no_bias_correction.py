"""Exercise 3, broken: Adamax without the bias correction 1 / (1 - beta1^t)."""
import numpy as np

from optim import Optimizer


class Adamax(Optimizer):
    """Adamax, missing the bias correction."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _update(self, param, grad, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state["exp_avg"] = np.zeros_like(param)
            state["exp_inf"] = np.zeros_like(param)
        g = grad + wd * param
        m, u = state["exp_avg"], state["exp_inf"]
        m *= beta1
        m += (1 - beta1) * g
        np.maximum(u * beta2, np.abs(g) + eps, out=u)
        param -= lr * m / u
