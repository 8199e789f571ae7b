"""The optimizer table: one row per optimizer in `optim.OPTIMIZERS`, driving every generic optimizer test.

A row carries the optimizer's own settings for each test surface:

- `reference`: its update of one parameter array in numpy, straight from the pseudocode
  in PyTorch's docs (`st` is that parameter's state dict); trajectories are compared
  with it (None for closure optimizers, which are checked on whole problems instead);
- `variants`: keyword arguments that together set every constructor option; the
  conformance kit (`optim.testing`) and the reference/torch comparisons run each;
- `quadratic`, `rosenbrock`: settings (and, for Rosenbrock, a step budget) that reach
  the minimum, or None where that surface does not apply;
- `torch`: the `torch.optim` class with the same rule, or None;
- `linreg_lr`: the learning rate for fitting the seed's line in 300 steps (None: the
  command's default);
- `invalid`: keyword arguments the constructor must refuse, with the option and value
  its one-line error names.

To add an optimizer, append its reference (if it has one) and its row, as in
docs/architecture.md ("How to add an optimizer").
"""
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True, kw_only=True)
class OptimizerCase:
    """One optimizer's row; every field must be given (None where a surface does not apply)."""
    name: str
    reference: Callable | None
    variants: list[dict]
    quadratic: dict | None
    rosenbrock: tuple[dict, int] | None
    torch: str | None
    linreg_lr: float | None
    invalid: list[tuple[dict, str, Any]]


CASES: list[OptimizerCase] = []


def ref_sgd(theta, grad, st, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0, maximize=False):
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * theta
    if momentum != 0:
        b = g if "b" not in st else momentum * st["b"] + (1 - dampening) * g
        st["b"] = b
        g = g + momentum * b if nesterov else b
    return theta - lr * g


CASES.append(OptimizerCase(
    name="sgd", reference=ref_sgd, torch="SGD", linreg_lr=None,
    variants=[
        dict(lr=0.05),
        dict(lr=0.05, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.3),
        dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
        dict(lr=0.05, weight_decay=0.1, maximize=True),
        dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True),
    ],
    quadratic=dict(lr=0.1, momentum=0.9), rosenbrock=(dict(lr=1.5e-3, momentum=0.9), 2000),
    invalid=[(dict(lr=-0.1), "lr", -0.1), (dict(lr=0.1, momentum=-0.5), "momentum", -0.5),
             (dict(lr=0.1, weight_decay=-1.0), "weight_decay", -1.0),
             (dict(lr=0.1, nesterov=True), "nesterov", True),
             (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov", True)],
))


def ref_adam(theta, grad, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
             maximize=False, decoupled_weight_decay=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    g = -grad if maximize else grad
    if decoupled_weight_decay:
        theta = theta - lr * weight_decay * theta
    elif weight_decay != 0:
        g = g + weight_decay * theta
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    if amsgrad:
        v = st["vmax"] = np.maximum(st.get("vmax", 0), v)
    v_hat = v / (1 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


CASES.append(OptimizerCase(
    name="adam", reference=ref_adam, torch="Adam", linreg_lr=None,
    variants=[
        dict(),
        dict(lr=0.01, betas=(0.8, 0.99)),
        dict(lr=0.01, eps=1e-3, weight_decay=0.1),
        dict(lr=0.01, amsgrad=True),
        dict(lr=0.01, maximize=True, weight_decay=0.05, amsgrad=True),
        dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1),
    ],
    quadratic=dict(lr=0.1), rosenbrock=(dict(lr=0.1), 2000),
    invalid=[(dict(lr=-1e-3), "lr", -1e-3), (dict(betas=(1.5, 0.9)), "beta1", 1.5),
             (dict(betas=(0.9, 1.0)), "beta2", 1.0), (dict(betas=(-0.1, 0.9)), "beta1", -0.1),
             (dict(eps=-1e-8), "eps", -1e-8), (dict(weight_decay=-0.1), "weight_decay", -0.1)],
))


def ref_adamw(theta, grad, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
              maximize=False):
    return ref_adam(theta, grad, st, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)


CASES.append(OptimizerCase(
    name="adamw", reference=ref_adamw, torch="AdamW", linreg_lr=None,
    variants=[
        dict(),
        dict(lr=0.01, weight_decay=0.3, amsgrad=True),
        dict(lr=0.01, maximize=True),
        dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4),
    ],
    quadratic=dict(lr=0.1, weight_decay=0.0), rosenbrock=(dict(lr=0.1, weight_decay=0.0), 2000),
    invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(betas=(0.9, 1.5)), "beta2", 1.5),
             (dict(weight_decay=-0.01), "weight_decay", -0.01), (dict(eps=-1.0), "eps", -1.0)],
))


def ref_rmsprop(theta, grad, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * theta
    v = st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
    v_tilde = v
    if centered:
        gave = st["gave"] = st.get("gave", 0) * alpha + (1 - alpha) * g
        v_tilde = v_tilde - gave ** 2
    if momentum > 0:
        b = st["b"] = momentum * st.get("b", 0) + g / (np.sqrt(v_tilde) + eps)
        return theta - lr * b
    return theta - lr * g / (np.sqrt(v_tilde) + eps)


CASES.append(OptimizerCase(
    name="rmsprop", reference=ref_rmsprop, torch="RMSprop", linreg_lr=None,
    variants=[
        dict(),
        dict(lr=0.005, alpha=0.9, eps=1e-4),
        dict(lr=0.005, momentum=0.9),
        dict(lr=0.005, centered=True),
        dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1),
        dict(lr=0.005, maximize=True),
    ],
    quadratic=dict(lr=0.01, momentum=0.5), rosenbrock=(dict(lr=1e-3, momentum=0.9), 2000),
    invalid=[(dict(lr=-0.01), "lr", -0.01), (dict(alpha=-0.5), "alpha", -0.5), (dict(eps=-1.0), "eps", -1.0),
             (dict(momentum=-0.9), "momentum", -0.9), (dict(weight_decay=-1.0), "weight_decay", -1.0)],
))


def ref_adagrad(theta, grad, st, lr=1e-2, lr_decay=0, weight_decay=0, eps=1e-10, initial_accumulator_value=0,
                maximize=False):
    t = st["t"] = st.get("t", 0) + 1
    g = -grad if maximize else grad
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay != 0:
        g = g + weight_decay * theta
    s = st["sum"] = st.get("sum", initial_accumulator_value) + g * g
    return theta - clr * g / (np.sqrt(s) + eps)


CASES.append(OptimizerCase(
    name="adagrad", reference=ref_adagrad, torch="Adagrad",
    linreg_lr=0.5,  # its shrinking steps need a larger start
    variants=[
        dict(),
        dict(lr=0.1, lr_decay=0.1),
        dict(lr=0.1, weight_decay=0.1, eps=1e-5),
        dict(lr=0.1, initial_accumulator_value=0.5),
        dict(lr=0.1, maximize=True),
    ],
    quadratic=dict(lr=0.5), rosenbrock=(dict(lr=0.5), 12000),
    invalid=[(dict(lr=-0.01), "lr", -0.01), (dict(lr_decay=-0.1), "lr_decay", -0.1),
             (dict(weight_decay=-0.1), "weight_decay", -0.1), (dict(eps=-1e-10), "eps", -1e-10),
             (dict(initial_accumulator_value=-1.0), "initial_accumulator_value", -1.0)],
))


CASES.append(OptimizerCase(
    name="lbfgs", reference=None, torch=None, linreg_lr=None,
    variants=[
        dict(),
        dict(line_search_fn="strong_wolfe"),
        dict(lr=0.5, history_size=3, max_iter=5),
        dict(max_eval=7, tolerance_grad=1e-5, tolerance_change=1e-7),
    ],
    quadratic=dict(line_search_fn="strong_wolfe"), rosenbrock=(dict(line_search_fn="strong_wolfe"), 10),
    invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(history_size=0), "history_size", 0),
             (dict(max_iter=0), "max_iter", 0), (dict(line_search_fn="armijo"), "line_search_fn", "armijo"),
             (dict(tolerance_grad=-1.0), "tolerance_grad", -1.0)],
))


CASES.append(OptimizerCase(
    name="newton", reference=None, torch=None, linreg_lr=None,
    variants=[
        dict(),
        dict(damping=0.1),
        dict(max_dense=0),
        dict(max_dense=0, cg_max_iter=2, cg_tol=1e-3, lr=0.5),
    ],
    quadratic=dict(), rosenbrock=(dict(), 20),
    invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(damping=-0.1), "damping", -0.1),
             (dict(max_dense=-1), "max_dense", -1), (dict(cg_max_iter=0), "cg_max_iter", 0),
             (dict(cg_tol=-1.0), "cg_tol", -1.0)],
))
