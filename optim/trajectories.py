"""A picture of single steps: optimizer paths on the contours of 2-D functions.

`plot_trajectories(path, steps=500)` runs SGD, momentum, Nesterov, RMSprop, Adam
and Newton from the same start on Rosenbrock's banana valley and on an
ill-conditioned quadratic bowl, and draws their paths over the contour lines
(the command line's `stepgrad optimizers -o FILE.png`).
"""
import io

import numpy as np

from engine import Tensor
from engine.files import atomic_write_bytes, format_from_suffix
from optim.registry import create, needs_closure


def rosenbrock(x, y):
    """(1 - x)² + 100 (y - x²)²: a curved valley, minimum 0 at (1, 1)."""
    a, b = 1 - x, y - x * x
    return a * a + 100 * b * b


def ill_quadratic(x, y):
    """x²/20 + y²: a bowl 20 times steeper across than along, minimum 0 at (0, 0)."""
    return x * x * 0.05 + y * y


#: (label, optimizer name, keyword arguments, per function) -- learning rates hand-tuned for each surface.
RUNS = [
    ("SGD", "sgd", {"rosenbrock": dict(lr=1.5e-3), "quadratic": dict(lr=0.1)}),
    ("Momentum", "sgd", {"rosenbrock": dict(lr=1e-3, momentum=0.9), "quadratic": dict(lr=0.1, momentum=0.9)}),
    ("Nesterov", "sgd", {"rosenbrock": dict(lr=1e-3, momentum=0.9, nesterov=True),
                         "quadratic": dict(lr=0.1, momentum=0.9, nesterov=True)}),
    ("RMSprop", "rmsprop", {"rosenbrock": dict(lr=0.02), "quadratic": dict(lr=0.05)}),
    ("Adam", "adam", {"rosenbrock": dict(lr=0.1), "quadratic": dict(lr=0.2)}),
    ("Newton", "newton", {"rosenbrock": dict(lr=1.0), "quadratic": dict(lr=1.0)}),
]

#: function key -> (title, function, start point, minimum, plot box (xmin, xmax, ymin, ymax))
SURFACES = {
    "rosenbrock": ("Rosenbrock  (1−x)² + 100(y−x²)²", rosenbrock, (-1.2, 1.0), (1.0, 1.0), (-2.0, 2.0, -3.5, 3.0)),
    "quadratic": ("Ill-conditioned quadratic  x²/20 + y²", ill_quadratic, (-4.0, 2.0), (0.0, 0.0),
                  (-5.0, 5.0, -3.0, 3.0)),
}


def run_trajectory(fn, start, name, kwargs, steps):
    """The points visited by optimizer `name` minimising fn(x, y) from `start` (float64).

    Stops early when a step no longer moves the point or the run diverges.
    """
    x = Tensor(np.array(start[0], dtype=np.float64), requires_grad=True)
    y = Tensor(np.array(start[1], dtype=np.float64), requires_grad=True)
    opt = create(name, [x, y], **kwargs)
    with_closure = needs_closure(type(opt))

    def closure():
        opt.zero_grad()
        loss = fn(x, y)
        loss.backward(create_graph=with_closure)  # Newton differentiates the gradient again
        return loss

    points = [(x.item(), y.item())]
    for _ in range(steps):
        if with_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
        point = (x.item(), y.item())
        if not np.all(np.isfinite(point)) or max(abs(point[0]), abs(point[1])) > 1e6:
            break
        if point == points[-1]:
            break
        points.append(point)
    return np.array(points)


def plot_trajectories(path, steps=500):
    """Draw the optimizers' paths on both surfaces into the image file `path`.

    Uses matplotlib's Agg canvas (no display needed). The suffix of `path`
    picks the format (png without one; `engine.files.FormatError`, before any
    work, for a suffix matplotlib cannot write); the file is written atomically.
    Returns the paths: `{surface: {label: (n, 2) array of points}}`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#111111"]
    fig = Figure(figsize=(15, 8), layout="constrained")
    fmt = format_from_suffix(path, sorted(FigureCanvasAgg(fig).get_supported_filetypes()), "png")
    axes = fig.subplots(1, 2)
    results = {}
    for ax, (key, (title, fn, start, minimum, box)) in zip(axes, SURFACES.items()):
        xs, ys = np.meshgrid(np.linspace(box[0], box[1], 400), np.linspace(box[2], box[3], 400))
        zs = fn(xs, ys)
        if key == "rosenbrock":
            ax.contour(xs, ys, zs, levels=np.logspace(-1, 3.5, 19), norm=LogNorm(), colors="0.55", linewidths=0.7)
        else:
            ax.contour(xs, ys, zs, levels=np.geomspace(0.02, zs.max(), 16), colors="0.55", linewidths=0.7)
        results[key] = {}
        for (label, name, kwargs), color in zip(RUNS, colors):
            pts = run_trajectory(fn, start, name, kwargs[key], steps)
            results[key][label] = pts
            final = fn(*pts[-1])
            opts = ", ".join(f"{k}={v}" for k, v in kwargs[key].items() if k != "nesterov")
            style = dict(marker="o", markersize=4) if len(pts) < 30 else {}
            ax.plot(pts[:, 0], pts[:, 1], color=color, linewidth=1.6, alpha=0.9,
                    label=f"{label} ({opts}): {len(pts) - 1} steps, f = {final:.1e}", **style)
            ax.plot(*pts[-1], marker="X", color=color, markersize=10, markeredgecolor="white", zorder=5)
        ax.plot(*start, marker="o", color="black", markersize=9, zorder=6, label=f"start {start}")
        ax.plot(*minimum, marker="*", color="gold", markeredgecolor="black", markersize=16, zorder=6,
                label=f"minimum {minimum}")
        ax.set_xlim(box[0], box[1])
        ax.set_ylim(box[2], box[3])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_title(f"{title}\nat most {steps} steps; ✕ marks where each run ended")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8.5, frameon=False)
    fig.suptitle("Single-step optimization: θ ← θ − step(∇J(θ)), one point per step", fontsize=13)
    picture = io.BytesIO()
    fig.savefig(picture, format=fmt, dpi=90)
    atomic_write_bytes(path, picture.getbuffer())
    return results
