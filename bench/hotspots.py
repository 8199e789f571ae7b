"""Where the engine's GPT step spends its time: a cProfile of a few steps, top functions by own time.

cProfile charges a numpy call (a BLAS matmul, an elementwise ufunc) to the Python
function that made it, so an op's forward or backward method shows the array work
it does as its own time ("tottime"). Profiling adds a per-call overhead, which
inflates the share of small Python functions somewhat.
"""
import cProfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _label(code):
    """'LayerNorm.forward (engine/ops/fused.py:21)' for Python code; a built-in's own description."""
    if isinstance(code, str):
        return code  # a built-in, e.g. "<method 'reduce' of 'numpy.ufunc' objects>"
    path = Path(code.co_filename)
    where = path.relative_to(ROOT) if ROOT in path.parents else path.name
    return f"{getattr(code, 'co_qualname', code.co_name)} ({where}:{code.co_firstlineno})"


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
    entries = profiler.getstats()
    total = sum(e.inlinetime for e in entries)
    rows = [(_label(e.code), e.callcount / n_steps, e.inlinetime / n_steps * 1e3, e.totaltime / n_steps * 1e3,
             e.inlinetime / total) for e in sorted(entries, key=lambda e: -e.inlinetime)[:top]]
    return rows, total / n_steps
