"""Exercise 3: add an optimizer (Adamax, as torch.optim.Adamax has it).

The learner's file defines ``class Adamax(optim.Optimizer)`` with PyTorch's defaults
and its per-parameter ``_update``, following docs/architecture.md's "how to add an
optimizer". Adamax is Adam with the infinity norm in place of the squared-gradient
average; per parameter, at step t:

    g = grad + weight_decay·θ
    m = β₁·m + (1 − β₁)·g
    u = max(β₂·u, |g| + eps)
    θ = θ − lr / (1 − β₁ᵗ) · m / u

The check compares 20 steps with that rule written out here (and with
torch.optim.Adamax itself when PyTorch is installed), then checks a state_dict
round trip and that the optimizer fits the seed's line.
"""
import json

import numpy as np

from engine import Tensor
from engine import functional as F
from models.exercises.solution import NotYet, attribute, fmt, run
from models.linreg import LinearRegression, least_squares, make_data
from optim import Optimizer, flatten_state_dict, unflatten_state_dict

TITLE = "an optimizer (Adamax)"
DEFAULTS = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)  # torch.optim.Adamax's
SETTINGS = [dict(lr=0.1), dict(lr=0.05, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1)]
STEPS = 20


def gradient(theta):
    """A fixed, non-linear gradient field: the same numbers for the learner's class and the reference."""
    return np.sin(3.0 * theta) + 0.5 * theta


def reference(theta, g, state, lr, betas, eps, weight_decay):
    """One Adamax step on a copy of ``theta``: PyTorch's rule, written out."""
    beta1, beta2 = betas
    state["step"] = state.get("step", 0) + 1
    g = g + weight_decay * theta
    state["m"] = beta1 * state.get("m", np.zeros_like(theta)) + (1 - beta1) * g
    state["u"] = np.maximum(beta2 * state.get("u", np.zeros_like(theta)), np.abs(g) + eps)
    return theta - lr / (1 - beta1 ** state["step"]) * state["m"] / state["u"]


def start():
    """Two parameters of different shapes, float64."""
    return [Tensor(np.linspace(-1.5, 2.0, 6).reshape(2, 3), requires_grad=True),
            Tensor(np.array([0.7, -0.2]), requires_grad=True)]


def steps(opt, params, n):
    """``n`` steps of ``opt`` with ``gradient`` as the gradient."""
    for _ in range(n):
        for p in params:
            p.grad = Tensor(gradient(p.data))
        opt.step()


def torch_trajectory(settings):
    """torch.optim.Adamax's parameters after ``STEPS`` steps, or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    params = [torch.tensor(p.data.copy(), requires_grad=True) for p in start()]
    opt = torch.optim.Adamax(params, **settings)
    for _ in range(STEPS):
        for p in params:
            p.grad = torch.from_numpy(gradient(p.detach().numpy()))
        opt.step()
    return [p.detach().numpy() for p in params]


def check(solution):
    """Defaults, 20-step trajectories against the rule (and torch), state_dict, and the seed's line."""
    Adamax = attribute(solution, "Adamax", Optimizer, "class Adamax(Optimizer) (see the starting code of exercise 3)")
    opt = run(solution, "Adamax(params)", lambda: Adamax(start()))
    for key, value in DEFAULTS.items():
        got = opt.defaults.get(key)
        if got is None or np.any(np.asarray(got, dtype=float) != np.asarray(value, dtype=float)):
            raise NotYet(f"Adamax's default {key} is {got!r}; torch.optim.Adamax's is {value!r}")
    passed = ["defaults are torch.optim.Adamax's: " + ", ".join(f"{k}={v}" for k, v in DEFAULTS.items())]

    for settings in SETTINGS:
        params = start()
        opt = run(solution, f"Adamax(params, {settings})", lambda: Adamax(params, **settings))
        thetas, states = [p.data.copy() for p in params], [{}, {}]
        for step in range(1, STEPS + 1):
            run(solution, "Adamax.step()", lambda: steps(opt, params, 1))
            thetas = [reference(th, gradient(th), st, **{**DEFAULTS, **settings}) for th, st in zip(thetas, states)]
            for i, (p, th) in enumerate(zip(params, thetas)):
                if not np.allclose(p.data, th, rtol=1e-10, atol=1e-12):
                    k = np.unravel_index(np.argmax(np.abs(p.data - th)), th.shape)
                    raise NotYet(f"with {settings}, after step {step} parameter {i}[{', '.join(map(str, k))}] is "
                                 f"{fmt(p.data[k])}; Adamax's rule gives {fmt(th[k])}")
        against = torch_trajectory(settings)
        if against is not None and not all(np.allclose(p.data, t, rtol=1e-10, atol=1e-12)
                                           for p, t in zip(params, against)):
            raise NotYet(f"with {settings} your steps follow the rule above but not torch.optim.Adamax")
    passed.append(f"{STEPS} steps equal Adamax's rule with {len(SETTINGS)} settings"
                  + (", and torch.optim.Adamax" if torch_trajectory(SETTINGS[0]) is not None else
                     " (PyTorch is not installed: torch.optim.Adamax itself not compared)"))

    params, copies = start(), start()
    opt = Adamax(params, **SETTINGS[1])
    steps(opt, params, 3)
    arrays, meta = flatten_state_dict(opt.state_dict())
    for p, q in zip(copies, params):
        p.data[...] = q.data
    resumed = Adamax(copies, **SETTINGS[1])
    run(solution, "load_state_dict", lambda: resumed.load_state_dict(unflatten_state_dict(arrays, json.loads(
        json.dumps(meta)))))
    steps(opt, params, 5)
    run(solution, "Adamax.step() after load_state_dict", lambda: steps(resumed, copies, 5))
    if not all(np.array_equal(p.data, q.data) for p, q in zip(params, copies)):
        raise NotYet("saved after 3 steps and loaded into a new Adamax, the run does not go on as before: keep "
                     "everything a step needs in `state` (numbers or numpy arrays), nothing on self")
    passed.append("state_dict after 3 steps, loaded into a new Adamax, continues exactly")

    x, y = make_data(100, seed=0)
    model = LinearRegression()
    opt = Adamax(model.parameters(), lr=0.1)
    for _ in range(1000):
        loss = F.mse_loss(model(Tensor(x)), Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    theta = (model.theta0.item(), model.theta1.item())
    if not np.allclose(theta, least_squares(x, y), atol=1e-2):
        raise NotYet(f"on the seed's line, 1000 steps at lr 0.1 end at theta = {fmt(theta)}, "
                     f"least squares is {fmt(least_squares(x, y))}")
    passed.append(f"fits the seed's line: theta = {fmt(theta)} after 1000 steps at lr 0.1 (least squares "
                  f"{fmt(least_squares(x, y))})")
    return passed
