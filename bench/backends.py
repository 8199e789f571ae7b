"""The engine on each kernel backend: numpy, and the compiled one (numba) when installed.

`python -m bench` times every engine figure twice in the same interleaved run, once
per backend (`on_backend` binds the kernels before each call), and reports what the
compiled backend costs to start: the first call's compile with an empty cache, and
the load from the on-disk cache in a later process (`first_call_cost`). `candidates`
measures the choice between numba and numexpr on the issue's yardstick, one GELU
forward of 768x512 float32, with what each costs to install.
"""
import importlib.metadata
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.timing import interleave
from engine import kernels

FAST = "numba"


def fast_available():
    """True if the compiled backend can be used here."""
    return FAST in kernels.available_backends()


def on_backend(name, fn):
    """fn, called with the kernels bound to backend `name` (and left so)."""
    def run():
        if kernels.backend() != name:
            kernels.set_backend(name)
        return fn()
    return run


_FIRST_CALLS = """
import time
start = time.perf_counter()
from engine.kernels import compiled
compiled.loops()
loaded = time.perf_counter()
compiled.warm_up()
print(loaded - start, time.perf_counter() - loaded)
"""


def first_call_cost():
    """Seconds to import numba and compile every compiled kernel with an empty cache, then to load them
    from the cache in a fresh process: {"import": s, "compile": s, "cached": s}, or None without numba."""
    if not fast_available():
        return None
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache, "NUMBA_CACHE_DIR": "",
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        runs = []
        for _ in range(2):
            done = subprocess.run([sys.executable, "-c", _FIRST_CALLS], capture_output=True, text=True, env=env,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError(f"timing the compiled kernels' first calls failed:\n{done.stderr.strip()}")
            runs.append([float(v) for v in done.stdout.split()])
    return {"import": runs[1][0], "compile": runs[0][1], "cached": runs[1][1]}


def installed_mib(*distributions):
    """MiB on disk of the installed distributions' files, or None if one is missing."""
    total = 0
    for name in distributions:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for f in files:
            path = f.locate()
            if os.path.isfile(path):
                total += os.path.getsize(path)
    return total / 2**20


# numexpr has no erf: GELU with the erf of Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), one expression
_NUMEXPR_GELU = ("x * (0.5 + 0.5 * where(x < 0, -1, 1) * (1 - t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))"
                 " * exp(-z * z)))")
_NUMEXPR_CONSTANTS = dict(a1=0.254829592, a2=-0.284496736, a3=1.421413741, a4=-1.453152027, a5=1.061405429)


def _numexpr_gelu(numexpr, x):
    """GELU of x by numexpr, its erf written as an expression (t and z are its own first passes)."""
    z = numexpr.evaluate("abs(x) * 0.7071067811865476")
    t = numexpr.evaluate("1 / (1 + 0.3275911 * z)")
    return numexpr.evaluate(_NUMEXPR_GELU, local_dict=dict(x=x, z=z, t=t, **_NUMEXPR_CONSTANTS))


def candidates(torch, repeats, number=20):
    """The backends considered, on one GELU forward of 768x512 float32: ms per call (median of
    interleaved blocks) and MiB installed. Rows: (name, ms, MiB, note)."""
    x = np.random.default_rng(0).standard_normal((768, 512)).astype(np.float32)
    contenders = {"numpy": lambda: kernels.NUMPY["gelu"](x, False)}
    if fast_available():
        from engine.kernels import compiled
        contenders["numba"] = lambda: compiled.gelu(x, False)
    numexpr = importlib.import_module("numexpr") if importlib.util.find_spec("numexpr") else None
    if numexpr is not None:
        contenders["numexpr"] = lambda: _numexpr_gelu(numexpr, x)
        exact = x * 0.5 * (1 + np.vectorize(math.erf)(x.astype(np.float64) / math.sqrt(2)))
        numexpr_error = float(np.abs(_numexpr_gelu(numexpr, x) - exact).max())
    if torch is not None:
        xt = torch.from_numpy(x)
        contenders["torch"] = lambda: torch.nn.functional.gelu(xt)
    timings = interleave(contenders, repeats, number, warmup=3, settle=0.05)
    notes = {
        "numpy": ("numpy", "the default: about 20 numpy passes over memory (erf by A&S 7.1.26 in place)"),
        "numba": ("numba", "the compiled backend's loop: rational erf, no exp, one pass, split over threads"),
        "numexpr": ("numexpr", "one expression per pass; no erf, so A&S 7.1.26 written out "
                    f"(max error {numexpr_error:.1e})" if numexpr is not None else ""),
        "torch": (None, "PyTorch's fused loop, for reference"),
    }
    sizes = {"numpy": None, "numba": installed_mib("numba", "llvmlite"), "numexpr": installed_mib("numexpr"),
             "torch": None}
    return [(name, timings[name].median * 1e3, sizes[name], notes[name][1]) for name in contenders]


def describe_candidates(rows, cost):
    """The candidates as markdown: the table, the first-call cost, and the choice."""
    lines = ["| backend | GELU fwd 768x512 float32, ms | installed, MiB | how |", "|---|---:|---:|---|"]
    for name, ms, mib, note in rows:
        lines.append(f"| {name} | {ms:.3f} | {'—' if mib is None else f'{mib:.0f}'} | {note} |")
    if cost is None:
        lines += ["", "The compiled backend (numba) is not installed here, so its figures are absent: "
                  "`pip install 'stepgrad[fast]'` adds them."]
        return "\n".join(lines) + "\n"
    lines += ["", f"numba's first-call cost, paid once per machine: importing numba {cost['import']:.2f} s, then "
              f"compiling every compiled kernel {cost['compile']:.1f} s with an empty cache; a later process loads "
              f"them from the cache (`$XDG_CACHE_HOME/stepgrad/numba`) in {cost['cached']:.2f} s (plus the import). "
              "numexpr has nothing to compile.", "",
              "Chosen: numba alone. It is the only candidate that reaches PyTorch's speed on GELU (numexpr "
              "evaluates one expression per pass and has no erf, so it stays near numpy's pass count), and its "
              "kernels read as the loops they are (engine/kernels/numba_loops.py: one loop per kernel, the math "
              "in the docstring). Its costs: the install size above (llvmlite is most of it) and the one-time "
              "compile; both stay out of the default install, which is numpy only."]
    return "\n".join(lines) + "\n"

