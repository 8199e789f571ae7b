"""Pictures of training runs: the loss curve and the linear-regression fit.

matplotlib is imported lazily and used through its object API with the Agg
canvas, so plotting never touches pyplot's global state or a display.  Files
are written atomically; the format follows the suffix (png, svg, pdf).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from engine.files import atomic_write_bytes

TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#d62728"
FIT_COLORS = ("#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
LOG_SCALE_RATIO = 10.0  # use a log y axis when losses span at least this factor


def plot_loss_curve(metrics: Sequence[Mapping], path: str | os.PathLike, title: str = "Training loss",
                    ylabel: str = "cross-entropy loss", smoothed: bool = True) -> None:
    """Plot train loss (per step and smoothed) and val loss against step; save to ``path``.

    ``metrics`` is a list of records as written to ``metrics.jsonl`` (see
    ``models.metrics.read_metrics``); records without a finite loss are skipped.
    The smoothed line is ``smooth``'s centered mean, for minibatch losses, which
    are noisy; ``smoothed=False`` draws the losses alone (a full-batch loss is
    exact at every step, with no noise to smooth).  The y axis turns
    logarithmic when the losses span a factor of 10 or more.
    """
    fig = _figure((8, 4.8))
    ax = fig.add_subplot()
    steps, losses = _series(metrics, "loss")
    val_steps, val_losses = _series(metrics, "val_loss")
    shown = smooth(losses) if smoothed else losses
    if len(steps):
        if smoothed:
            ax.plot(steps, losses, color=TRAIN_COLOR, alpha=0.25, linewidth=0.8, label="train (per step)")
        label = f"train (mean of the {default_window(len(losses))} steps around each)" if smoothed \
            else "train (per step)"
        ax.plot(steps, shown, color=TRAIN_COLOR, linewidth=2, label=label)
    if len(val_steps):
        ax.plot(val_steps, val_losses, color=VAL_COLOR, marker="o", markersize=5, linewidth=1.2,
                label=f"val (last {val_losses[-1]:.4f})")
    _log_scale_if_wide(ax, np.concatenate([shown, val_losses]))
    ax.set_title(_subtitle(title, metrics))
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    _finish(ax)
    _save(fig, path)


def plot_linreg(x: Sequence[float], y: Sequence[float], fits: Mapping[str, tuple[float, float]],
                path: str | os.PathLike,
                losses: Mapping[str, Sequence[float]] | None = None) -> None:
    """Plot the data and the fitted lines ``y = theta0 + theta1 * x``; save to ``path``.

    ``fits`` maps a label (e.g. ``"gradient descent"``, ``"least squares"``)
    to ``(theta0, theta1)``.  With ``losses`` (label -> loss per step) a
    second panel shows those loss curves on a log scale.
    """
    fig = _figure((11, 4.5) if losses else (6.5, 4.5))
    ax = fig.add_subplot(1, 2 if losses else 1, 1)
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    ax.scatter(x, y, s=14, color="#7f7f7f", alpha=0.7, label="data")
    line_x = np.linspace(x.min(), x.max(), 2)
    for (label, (theta0, theta1)), color, style in zip(fits.items(), _cycle(FIT_COLORS), _cycle(("-", "--", ":"))):
        ax.plot(line_x, theta0 + theta1 * line_x, color=color, linestyle=style, linewidth=2,
                label=f"{label}: y = {theta0:.3f} + {theta1:.3f}x")
    ax.set_title("Linear regression")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    _finish(ax)
    if losses:
        _plot_losses(fig.add_subplot(1, 2, 2), losses)
    _save(fig, path)


def plot_training_stats(metrics: Sequence[Mapping], path: str | os.PathLike, title: str = "Training statistics",
                        grad_clip: float = 0.0) -> None:
    """Draw what ``--log-stats`` recorded (``models.train_stats``) over the steps; save to ``path``.

    Three panels, one line per parameter or layer, smoothed like the loss
    curve: log10 of the update-to-data ratio (``update_norm / param_norm``)
    with the usual 1e-3 reference line; the gradient norms the optimizer
    received (after clipping), with the total norm before clipping and the
    clipping threshold; and the share of saturated units of every tanh and
    GELU layer.  Records without statistics are skipped.
    """
    records = [r for r in metrics if isinstance(r.get("optim_stats"), list)]
    steps = np.array([r["step"] for r in records], dtype=float)
    fig = _figure((11, 10.5))
    ratio_ax, grad_ax, sat_ax = fig.subplots(3, 1, sharex=True)
    names = [row["name"] for row in records[0]["optim_stats"]] if records else []
    colors = _spread(len(names))
    for i, (name, color) in enumerate(zip(names, colors)):
        ratio = _row_series(records, i, "ratio")
        with np.errstate(divide="ignore"):
            ratio_ax.plot(steps, smooth(np.log10(ratio)), color=color, linewidth=1.2, label=name)
        grad_ax.plot(steps, smooth(_row_series(records, i, "grad_norm")), color=color, linewidth=1.2)
    ratio_ax.axhline(-3, color="black", linestyle="--", linewidth=1.2, label="1e-3")
    ratio_ax.set_ylabel("log10(update / data)")
    ratio_ax.set_title(f"{title}\nupdate-to-data ratio per parameter (|update| / |parameter|)")
    grad_steps, totals = _series(records, "grad_norm")
    if len(totals):
        grad_ax.plot(grad_steps, smooth(totals), color="black", linewidth=2, label="all parameters, before clipping")
    if grad_clip > 0:
        grad_ax.axhline(grad_clip, color="black", linestyle=":", linewidth=1.2, label=f"clipped to {grad_clip:g}")
    grad_ax.set_yscale("log")
    grad_ax.set_ylabel("gradient L2 norm")
    grad_ax.set_title("gradient norm per parameter (colours as above), as the optimizer received it")
    layers = list(dict.fromkeys(name for r in records for name in r.get("saturation") or {}))
    for name, color in zip(layers, _spread(len(layers))):
        share = np.array([100.0 * (r.get("saturation") or {}).get(name, np.nan) for r in records])
        sat_ax.plot(steps, smooth(share), color=color, linewidth=1.5, label=name)
    sat_ax.set_ylabel("saturated units (%)")
    sat_ax.set_ylim(bottom=0)
    sat_ax.set_title("saturated activations: tanh |out| > 0.97, GELU input < -3 (they pass ~no gradient)")
    sat_ax.set_xlabel("step")
    if not layers:
        sat_ax.text(0.5, 0.5, "this model has no tanh or GELU layer", ha="center", va="center",
                    transform=sat_ax.transAxes)
    for ax in (ratio_ax, grad_ax, sat_ax):
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5),
                      ncol=2 if len(ax.get_legend_handles_labels()[0]) > 16 else 1)
    _save(fig, path)


def smooth(values: Sequence[float], window: int | None = None) -> np.ndarray:
    """Centered moving average: each point is the mean of the ``window`` values around it.

    The window is centered on its point, so the curve does not lag behind the
    data (a trailing average sits above a falling loss, to the right of it): a
    straight line stays on itself.  Near the ends the window shrinks to stay
    centered, down to the first and last values alone.  ``window`` defaults to
    ``default_window(len(values))``; an even one counts as the odd one above
    it.  Values that are not finite stay gaps and are left out of their
    neighbours' means.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    half = (window or default_window(n)) // 2
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    index = np.arange(n)
    reach = np.minimum(half, np.minimum(index, n - 1 - index))  # as far on both sides
    low, high = index - reach, index + reach + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums[high] - sums[low]) / (counts[high] - counts[low])
    return np.where(finite, means, np.nan)


def default_window(n: int) -> int:
    """The window ``smooth`` uses for ``n`` values: odd, about 1/50 of them (a curve keeps its shape at any length)."""
    return 2 * (n // 100) + 1


def _plot_losses(ax, losses: Mapping[str, Sequence[float]]) -> None:
    for (label, values), color in zip(losses.items(), _cycle(FIT_COLORS)):
        ax.plot(np.arange(len(values)), values, color=color, linewidth=1.8, label=label)
    ax.set_yscale("log")
    ax.set_title("Loss (mean squared error)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    _finish(ax)


def _series(metrics: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of ``key`` over the records where it is a finite number."""
    pairs = [(r["step"], r[key]) for r in metrics
             if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    steps = np.array([s for s, _ in pairs], dtype=float)
    return steps, np.array([v for _, v in pairs], dtype=float)


def _row_series(records: Sequence[Mapping], index: int, key: str) -> np.ndarray:
    """One parameter's ``key`` from each record's ``optim_stats`` (nan where it is missing)."""
    values = []
    for record in records:
        rows = record["optim_stats"]
        value = rows[index].get(key) if index < len(rows) else None
        values.append(value if isinstance(value, (int, float)) else np.nan)
    return np.array(values, dtype=float)


def _spread(n: int) -> list:
    """``n`` distinguishable colours, in order (first layers dark, last ones light)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"] if n > 10 else colormaps["tab10"]
    return [cmap(i / max(1, n - 1) * 0.9) if n > 10 else cmap(i) for i in range(n)]


def _subtitle(title: str, metrics: Sequence[Mapping]) -> str:
    _, ms = _series(metrics, "ms")
    if not len(ms):
        return title
    return f"{title}\n{len(metrics)} steps, median {np.median(ms):.1f} ms/step"


def _log_scale_if_wide(ax, values: np.ndarray) -> None:
    values = values[values > 0]
    if len(values) and values.max() / values.min() >= LOG_SCALE_RATIO:
        ax.set_yscale("log")


def _cycle(items: Sequence):
    while True:
        yield from items


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _finish(ax) -> None:
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False)


def _save(fig, path: str | os.PathLike) -> None:
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".").lower() or "png")
    atomic_write_bytes(path, buffer.getvalue())
