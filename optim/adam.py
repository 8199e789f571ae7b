"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient."""
import numpy as np

from optim.optimizer import Optimizer, _norm, check_nonneg, check_unit_interval


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's `torch.optim.Adam` rule step for step.

    `Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False, maximize=False, decoupled_weight_decay=False)`; per parameter::

        t = t + 1
        g = -grad if maximize else grad
        θ = θ * (1 - lr*weight_decay)          (decoupled, AdamW)
        g = g + weight_decay*θ                  (otherwise, L2 penalty)
        m = lerp(m, g, 1 - beta1)               (= beta1*m + (1-beta1)*g)
        v = beta2*v + (1-beta2)*g*g
        v_max = max(v_max, v)                   (amsgrad; then use v_max for v)
        θ = θ - lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)

    i.e. θ -= lr * m̂ / (sqrt(v̂) + eps) with the bias-corrected moments
    m̂ = m/(1-beta1^t), v̂ = v/(1-beta2^t). State: `step`, `exp_avg`,
    `exp_avg_sq` (and `max_exp_avg_sq` with amsgrad).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate(self, group):
        super()._validate(group)
        name = type(self).__name__
        check_nonneg(name, "eps", group["eps"])
        check_unit_interval(name, "beta1", group["betas"][0])
        check_unit_interval(name, "beta2", group["betas"][1])
        check_nonneg(name, "weight_decay", group["weight_decay"])

    def _update(self, param, grad, state, group):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        k = self.kernels
        decay = 1.0 - lr * wd if group["decoupled_weight_decay"] else 1.0
        if (not group["amsgrad"] and (decay != 1.0 or wd == 0)   # the lines below in one compiled pass, if on
                and k.adam_(param, grad, m, v, decay, group["maximize"], 1.0 - beta1, beta2,
                            (1.0 - beta2 ** t) ** 0.5, eps, lr / (1.0 - beta1 ** t))):
            return
        if group["decoupled_weight_decay"]:
            if wd != 0:
                param *= 1.0 - lr * wd                               # θ ← θ·(1 − α·λ)        (AdamW)
            g = k.gradient(param, grad, 0.0, group["maximize"])      # g = ±∇
        else:
            g = k.gradient(param, grad, wd, group["maximize"])       # g = ±∇ + λ·θ           (Adam: L2)
        k.lerp_(m, g, 1.0 - beta1)                                   # m ← β₁·m + (1 − β₁)·g
        k.ema_square_(v, g, beta2)                                   # v ← β₂·v + (1 − β₂)·g²
        if group["amsgrad"]:
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])  # v ← max(v_max, v)
        denom = k.denominator(v, eps, scale=(1.0 - beta2 ** t) ** 0.5)  # √v̂ + ε,  v̂ = v / (1 − β₂ᵗ)
        k.divide_step_(param, m, denom, lr / (1.0 - beta1 ** t))    # θ ← θ − α·m̂ / (√v̂ + ε), m̂ = m / (1 − β₁ᵗ)

    def _explain(self, group, before, grad, state):
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        beta1, beta2 = (float(b) for b in group["betas"])
        decoupled = group["decoupled_weight_decay"]
        _, rule = self._explained_grad(before, grad, group, decay=not decoupled)
        quantities = [("t, the step count", state["step"]), ("α = lr", lr), ("β₁, β₂", np.array([beta1, beta2]))]
        if decoupled and wd != 0:
            rule.insert(0, "θ ← θ·(1 − α·λ) (decoupled weight decay)")
            quantities.append(("α·λ·θ, the decay", lr * wd * before))
        v = state["max_exp_avg_sq" if group["amsgrad"] else "exp_avg_sq"].astype(np.float64)
        m = state["exp_avg"].astype(np.float64)
        rule += ["m ← β₁·m + (1 − β₁)·g", "v ← β₂·v + (1 − β₂)·g²"]
        if group["amsgrad"]:
            rule.append("v ← the largest v so far (amsgrad)")
        rule += ["m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ)", "θ ← θ − α·m̂/(√v̂ + ε)"]
        bc1, bc2 = 1.0 - beta1 ** state["step"], 1.0 - beta2 ** state["step"]
        m_hat, v_hat = m / bc1, v / bc2
        quantities += [("m, the first moment", m), ("v, the second moment", v), ("1 − β₁ᵗ", bc1), ("1 − β₂ᵗ", bc2),
                       ("m̂, bias-corrected", m_hat), ("v̂, bias-corrected", v_hat),
                       ("α·m̂/(√v̂ + ε), the step", lr * m_hat / (np.sqrt(v_hat) + eps))]
        return "; ".join(rule), quantities

    def _param_stats(self, p, group):
        """Adam's view of the step: bias corrections, moments and effective step size."""
        stats = super()._param_stats(p, group)
        st = self.state.get(p)
        if not st:
            return stats
        beta1, beta2 = (float(b) for b in group["betas"])
        step = st["step"]
        bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        v = st["max_exp_avg_sq"] if group["amsgrad"] else st["exp_avg_sq"]
        v_hat_sqrt = np.sqrt(v / bc2)
        eff = float(group["lr"]) / (v_hat_sqrt + float(group["eps"]))
        stats.update({
            "step": step,
            "bias_correction1": bc1,
            "bias_correction2": bc2,
            "m_hat_norm": _norm(st["exp_avg"] / bc1),
            "v_hat_sqrt_mean": float(v_hat_sqrt.mean()) if v.size else None,
            "effective_lr_median": float(np.median(eff)) if v.size else None,
        })
        return stats


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), `torch.optim.AdamW`.

    `AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, maximize=False)`: the parameter shrinks by
    `1 - lr*weight_decay` before the Adam step; the decay never enters the moments.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
