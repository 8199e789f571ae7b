"""Where the engine's GPT step spends its time: a cProfile of a few steps, top functions by own time.

cProfile charges a numpy call (a BLAS matmul, an elementwise ufunc) to the Python
function that made it, so an op's forward or backward method shows the array work
it does as its own time ("tottime"). Profiling adds a per-call overhead, which
inflates the share of small Python functions somewhat.
"""
import cProfile
import pstats
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _label(func):
    """'engine/ops/matmul.py:40(backward)' for repository code, the full location otherwise."""
    filename, line, name = func
    path = Path(filename)
    if path.is_absolute() and ROOT in path.parents:
        return f"{path.relative_to(ROOT)}:{line}({name})"
    if filename == "~":
        return name  # a built-in, e.g. "<method 'reduce' of 'numpy.ufunc' objects>"
    return f"{path.name}:{line}({name})"


def profile_steps(step, n_steps, top=10):
    """Run `step()` n_steps times under cProfile; the `top` functions by own time.

    Returns (rows, seconds per step): each row is (label, calls per step, own ms per
    step, cumulative ms per step, share of the profiled step time).
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n_steps):
        step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = []
    for func, (_, ncalls, tottime, cumtime, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        rows.append((_label(func), ncalls / n_steps, tottime / n_steps * 1e3, cumtime / n_steps * 1e3,
                     tottime / total))
    return rows, total / n_steps
