"""RMSprop: divide the step by a running root-mean-square of the gradient."""
import numpy as np

from optim.optimizer import Optimizer, _norm, check_nonneg


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
            state.update(step=0, square_avg=np.zeros_like(param))
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        k = self.kernels
        g = k.gradient(param, grad, float(group["weight_decay"]), group["maximize"])  # g = ±∇ + λ·θ
        k.ema_square_(state["square_avg"], g, alpha)                                  # v ← ρ·v + (1 − ρ)·g²
        mean = None
        if group["centered"]:
            mean = state["grad_avg"]
            k.lerp_(mean, g, 1.0 - alpha)                                             # ḡ ← ρ·ḡ + (1 − ρ)·g
        avg = k.denominator(state["square_avg"], eps, mean=mean)                      # √(v − ḡ²) + ε, or √v + ε
        if momentum > 0:
            buf = state["momentum_buffer"]
            k.momentum_(buf, k.quotient(g, avg), momentum)                            # b ← μ·b + g / avg
            k.sub_scaled_(param, buf, lr)                                             # θ ← θ − α·b
        else:
            k.divide_step_(param, g, avg, lr)                                         # θ ← θ − α·g / avg

    def _explain(self, group, before, grad, state):
        lr, rho, eps, mu = (float(group[k]) for k in ("lr", "alpha", "eps", "momentum"))
        g, rule = self._explained_grad(before, grad, group)
        v = state["square_avg"].astype(np.float64)
        quantities = [("lr", lr), ("ρ = alpha", rho)] + ([("g (the gradient the rule uses)", g)] if rule else [])
        rule.append("v ← ρ·v + (1 − ρ)·g²")
        quantities.append(("v, the mean square", v))
        if group["centered"]:
            mean = state["grad_avg"].astype(np.float64)
            rule += ["ḡ ← ρ·ḡ + (1 − ρ)·g", "σ = √(v − ḡ²) + ε"]
            sigma = np.sqrt(v - mean * mean) + eps
            quantities.append(("ḡ, the mean gradient", mean))
        else:
            rule.append("σ = √v + ε")
            sigma = np.sqrt(v) + eps
        quantities.append(("σ", sigma))
        if mu > 0:
            b = state["momentum_buffer"].astype(np.float64)
            rule += ["b ← μ·b + g/σ", "θ ← θ − lr·b"]
            return "; ".join(rule), quantities + [("μ = momentum", mu), ("b, the momentum buffer", b),
                                                  ("lr·b, the step", lr * b)]
        rule.append("θ ← θ − lr·g/σ")
        return "; ".join(rule), quantities + [("lr·g/σ, the step", lr * g / sigma)]

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
            "effective_lr_median": (float(np.median(float(group["lr"]) / (rms + float(group["eps"]))))
                                    if rms.size else None),
        })
        if "momentum_buffer" in st:
            stats["momentum_buffer_norm"] = _norm(st["momentum_buffer"])
        return stats
