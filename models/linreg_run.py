"""``stepgrad linreg``: the seed example, fitting y = theta0 + theta1 * x by gradient descent.

The data are 100 points with x ~ U(0, 1) and y = 2x + 1 + U(0, 1) noise (so
the least-squares line is close to y = 1.5 + 2x).  Both thetas start at 0 and
the loss is the mean squared error.  The loop is the seed's flowchart:

    compute the loss -> converged? (|loss - previous loss| < tol) -> gradient -> update -> repeat

``lbfgs`` and ``newton`` take a closure that recomputes the loss and its
gradient (Newton with ``backward(create_graph=True)``, for the Hessian), so
Newton lands on the least-squares answer in one step.

A run whose loss stops being finite or grows past ``DIVERGENCE_FACTOR`` times
its starting value raises ``Diverged``: the message names the learning rate
used and the stable limit 2/lambda_max of plain gradient descent on the data.
"""

from __future__ import annotations

import inspect
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine import Tensor, no_grad
from engine import functional as F
from models.linreg import LinearRegression, least_squares, make_data, mse_hessian
from models.metrics import MetricsWriter, read_metrics
from models.plots import plot_linreg, plot_loss_curve
from models.train_config import TrainError
from optim import get_optimizer, needs_closure

N_POINTS = 100  # the seed's data set size (see models.linreg.make_data)
#: Learning rates when none is given.  SGD keeps the seed guide's 0.01 (its slow crawl
#: is the guide's lesson); each other rate reaches least squares within the default
#: 1000 steps (Adagrad's shrinking steps need a large start; lbfgs and newton take
#: whole curvature-scaled steps).
DEFAULT_LRS = {"sgd": 0.01, "adam": 0.1, "adamw": 0.1, "rmsprop": 0.01, "adagrad": 0.5, "lbfgs": 1.0,
               "newton": 1.0}
DEFAULT_STEPS = 1000
MAX_STEPS_WITH_TOL = 100_000  # with --tol, --steps is only a cap
PRINT_EVERY = 100
DIVERGENCE_FACTOR = 1000.0  # a loss this many times the starting loss has diverged


class Diverged(TrainError):
    """The loss became non-finite or grew past ``DIVERGENCE_FACTOR`` times its start; the message is one line."""


@dataclass
class LinregResult:
    """What a run found: final thetas, the closed-form answer and the loss history."""

    optimizer: str
    theta: tuple[float, float]  # (theta0, theta1) after the last update
    least_squares: tuple[float, float]
    losses: list[float]  # losses[k] = loss after k updates, k = 0 .. steps
    steps: int  # updates performed
    converged: bool  # the |delta loss| < tol test fired (always False without tol)

    @property
    def final_loss(self) -> float:
        """The loss at the final thetas."""
        return self.losses[-1]


def default_lr(optimizer: str) -> float:
    """The learning rate ``optimizer`` uses when none is given.

    A built-in optimizer's is in ``DEFAULT_LRS``; another one's (installed, or
    ``module:Class``) is its constructor's default ``lr``, else the seed's 0.01
    (1.0 if its step takes a closure).
    """
    name = str(optimizer).strip().lower()
    if name in DEFAULT_LRS:
        return DEFAULT_LRS[name]
    cls = get_optimizer(optimizer)
    own = inspect.signature(cls).parameters.get("lr")
    if own is not None and isinstance(own.default, (int, float)) and not isinstance(own.default, bool):
        return float(own.default)
    return 1.0 if needs_closure(cls) else DEFAULT_LRS["sgd"]


def run_linreg(optimizer: str = "sgd", lr: float | None = None, steps: int | None = None,
               tol: float | None = None, seed: int = 0, out: str | Path | None = None,
               echo: Callable[[str], None] = print) -> LinregResult:
    """Fit the seed's line with ``optimizer``; print progress through ``echo``.

    ``lr`` defaults to ``default_lr(optimizer)``; ``steps`` to 1000, or to
    100000 as a cap when ``tol`` is given.  With ``tol`` the loop stops at the
    first step whose loss differs from the previous one by less than ``tol``.
    With ``out`` the directory receives ``metrics.jsonl``, ``loss.png`` and
    ``linreg.png`` (the data, both fitted lines and the loss curve).  Raises
    ``Diverged`` when the loss is not finite or exceeds ``DIVERGENCE_FACTOR``
    times its starting value; numpy's overflow warnings are silenced meanwhile.
    """
    lr = default_lr(optimizer) if lr is None else lr
    steps = steps if steps is not None else (MAX_STEPS_WITH_TOL if tol else DEFAULT_STEPS)
    x, y = make_data(N_POINTS, seed)  # (100,), (100,)
    xs, ys = Tensor(x), Tensor(y)
    model = LinearRegression()
    opt = get_optimizer(optimizer)(model.parameters(), lr=lr)
    with_closure = needs_closure(type(opt))

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(model(xs), ys)  # ()
        loss.backward(create_graph=with_closure)  # the graph of the gradient: Newton differentiates it again
        return loss

    echo(f"linear regression: y = 2x + 1 + U(0,1) noise, {N_POINTS} points (seed {seed}); "
         f"theta0 = theta1 = 0; MSE loss; {optimizer}, lr {lr:g}, "
         + (f"stop when |delta loss| < {tol:g} (at most {_steps(steps)})" if tol else _steps(steps)))
    metrics = _metrics_writer(out)
    losses, previous, converged, done = [], None, False, 0
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence: one message, below
            for step in range(1, steps + 1):
                start = time.perf_counter()
                if with_closure:
                    with no_grad():
                        loss_value = F.mse_loss(model(xs), ys).item()  # the closure recomputes it with grad
                else:
                    loss = F.mse_loss(model(xs), ys)  # ()
                    loss_value = loss.item()
                losses.append(loss_value)
                _check_divergence(losses, optimizer, lr, x)
                if tol and previous is not None and abs(loss_value - previous) < tol:
                    converged = True
                    echo(f"converged after {_steps(done)}: the last step changed the loss by "
                         f"{abs(loss_value - previous):.3g} (< tol {tol:g})")
                    break
                if with_closure:
                    opt.step(closure)
                else:
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    del loss
                done, previous = step, loss_value
                if metrics:
                    metrics.write(step, loss_value, lr, (time.perf_counter() - start) * 1e3)
                if step % PRINT_EVERY == 0:
                    note = "  (the loss this step starts from, before its update)" if step == PRINT_EVERY else ""
                    echo(f"step {step:6d}  loss {loss_value:.6f}{note}")
            if not converged:  # the loss at the final thetas; a converged run has just computed it
                with no_grad():
                    losses.append(F.mse_loss(model(xs), ys).item())
                _check_divergence(losses, optimizer, lr, x)
    finally:
        if metrics:
            metrics.close()
    if tol and not converged:
        echo(f"not converged: |delta loss| stayed >= {tol:g} for all {steps} steps")
    result = LinregResult(optimizer, (model.theta0.item(), model.theta1.item()), least_squares(x, y),
                          losses, done, converged)
    _report(result, echo)
    if out is not None:
        _pictures(result, x, y, Path(out), echo)
    return result


def _check_divergence(losses: list[float], optimizer: str, lr: float, x: np.ndarray) -> None:
    """Raise ``Diverged`` if the newest loss is not finite or ``DIVERGENCE_FACTOR`` times the first one."""
    loss, start = losses[-1], losses[0]
    if math.isfinite(loss) and loss <= DIVERGENCE_FACTOR * start:
        return
    lambda_max = float(np.linalg.eigvalsh(mse_hessian(x))[-1])
    how = "not a finite number" if not math.isfinite(loss) else f"past {DIVERGENCE_FACTOR:g}x its start"
    raise Diverged(
        f"the loss diverged with {optimizer} at lr {lr:g}: from {start:.4g} to {loss:.4g} in "
        f"{_steps(len(losses) - 1)} ({how}); plain gradient descent on this data is stable only for "
        f"lr < 2/lambda_max = {2 / lambda_max:.3f} (lambda_max = {lambda_max:.3f}: the largest eigenvalue of "
        f"the loss's Hessian); try a smaller --lr ({optimizer}'s default is {default_lr(optimizer):g})")


def _steps(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _metrics_writer(out: str | Path | None) -> MetricsWriter | None:
    if out is None:
        return None
    Path(out).mkdir(parents=True, exist_ok=True)
    return MetricsWriter(Path(out) / "metrics.jsonl")


def _report(result: LinregResult, echo: Callable[[str], None]) -> None:
    label = f"{result.optimizer} ({_steps(result.steps)})"
    width = max(len(label), len("least squares"))
    echo(f"final loss {result.final_loss:.6f}  (after update {result.steps}, at the thetas below)")
    echo(f"{'':{width}}  {'theta0':>10}  {'theta1':>10}")
    echo(f"{label:{width}}  {result.theta[0]:10.6f}  {result.theta[1]:10.6f}")
    echo(f"{'least squares':{width}}  {result.least_squares[0]:10.6f}  {result.least_squares[1]:10.6f}")


def _pictures(result: LinregResult, x: np.ndarray, y: np.ndarray, out: Path,
              echo: Callable[[str], None]) -> None:
    fits = {f"{result.optimizer}, {_steps(result.steps)}": result.theta, "least squares": result.least_squares}
    plot_linreg(x, y, fits, out / "linreg.png", losses={result.optimizer: result.losses})
    plot_loss_curve(read_metrics(out / "metrics.jsonl"), out / "loss.png",  # full batch: exact, nothing to smooth
                    title=f"Linear regression ({result.optimizer})", ylabel="mean squared error", smoothed=False)
    echo(f"wrote {out / 'linreg.png'}, {out / 'loss.png'} and {out / 'metrics.jsonl'}")


def main_linreg(args) -> int:
    """Run ``stepgrad linreg`` from parsed command-line ``args``; return the exit code."""
    run_linreg(args.optimizer, args.lr, args.steps, args.tol, args.seed, args.out,
               echo=lambda line: print(line, file=sys.stdout, flush=True))
    return 0
