"""RMSprop: divide the step by a running root-mean-square of the gradient."""
import numpy as np

from optim.optimizer import Optimizer, _norm, check_nonneg, lerp_


class RMSprop(Optimizer):
    """RMSprop (Hinton), PyTorch's `torch.optim.RMSprop` rule step for step.

    `RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, maximize=False)`; per parameter::

        g = -grad if maximize else grad
        g = g + weight_decay*θ                         (if weight_decay)
        v = alpha*v + (1-alpha)*g*g
        a = lerp(a, g, 1-alpha); avg = sqrt(v - a*a)   (centered)
        avg = sqrt(v)                                  (otherwise)
        avg = avg + eps
        b = momentum*b + g/avg; θ = θ - lr*b           (momentum > 0)
        θ = θ - lr * g/avg                             (otherwise)

    State: `step`, `square_avg` (and `momentum_buffer`, `grad_avg`).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        for key in ("alpha", "eps", "weight_decay", "momentum"):
            check_nonneg(name, key, group[key])

    def _update(self, param, grad, state, group):
        lr, alpha, eps, momentum = (float(group[k]) for k in ("lr", "alpha", "eps", "momentum"))
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        g = self._effective_grad(param, grad, group)
        v = state["square_avg"]

        t = self._tmp(param, 1)
        np.multiply(g, 1.0 - alpha, out=t)
        t *= g
        v *= alpha
        v += t
        avg = self._tmp(param, 2)
        if group["centered"]:
            a = state["grad_avg"]
            lerp_(a, g, 1.0 - alpha, t)
            np.multiply(a, -1.0, out=t)
            t *= a
            np.add(v, t, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(v, out=avg)
        avg += eps
        if momentum > 0:
            buf = state["momentum_buffer"]
            np.divide(g, avg, out=t)
            buf *= momentum
            buf += t
            np.multiply(buf, lr, out=t)
            param -= t
        else:
            self._descend(param, g, lr, avg, t)

    def _param_stats(self, p, group):
        """RMSprop's view: the RMS of the gradient and the per-coordinate step size."""
        stats = super()._param_stats(p, group)
        st = self.state.get(p)
        if not st:
            return stats
        v = st["square_avg"]
        if group["centered"]:
            v = v - st["grad_avg"] ** 2
        rms = np.sqrt(v)
        stats.update({
            "step": st["step"],
            "rms_mean": float(rms.mean()) if rms.size else None,
            "effective_lr_median": float(np.median(float(group["lr"]) / (rms + float(group["eps"])))) if rms.size else None,
        })
        if "momentum_buffer" in st:
            stats["momentum_buffer_norm"] = _norm(st["momentum_buffer"])
        return stats
