"""The kernels: how the engine computes fast what the op files state plainly.

Op files (engine/ops/) give each op's math: forward, backward and, for fused ops,
the composite. Where the plain numpy of that math is too slow, an op calls a kernel
from this package: `kernels.layer_norm(x, weight, bias, eps)`. Threads, row blocks,
`out=` buffers and BLAS-shaped fast paths live here and only here, each kernel
tested against the plain math (tests/test_kernels.py). So does the machine:
`threads` (how many threads the kernels use) and `tuning` (`engine.tune()`).

Each kernel is one function, and this module is the one place that picks its
implementation: the names below are bound to the numpy ones, and `use()` rebinds any
of them (a compiled backend can replace a kernel at a time). Ops look kernels up
here at call time (`kernels.gelu(...)`), so a replacement takes effect at once.

Backends: "numpy" (always there) and "numba", compiled loops for the kernels in
`compiled.KERNELS` (installed with `pip install 'stepgrad[fast]'`). The fastest one
installed is chosen when the engine is imported, without loading it (numba loads on
the first kernel call). `STEPGRAD_BACKEND=numpy` in the environment, or
`set_backend("numpy")`, keeps to numpy.
"""
import importlib.util
import os
import warnings

from engine.kernels import arrays, attention as _attention, elementwise, rows

# ----- the numpy implementation of every kernel ----------------------------------------
NUMPY = {
    "power": elementwise.power,
    "erf": elementwise.erf,
    "gelu": elementwise.gelu,
    "gelu_backward": elementwise.gelu_backward,
    "flush_tiny": rows.flush_tiny,
    "layer_norm": rows.layer_norm,
    "layer_norm_backward": rows.layer_norm_backward,
    "cross_entropy": rows.cross_entropy,
    "cross_entropy_backward": rows.cross_entropy_backward,
    "attention": _attention.attention,
    "attention_backward": _attention.attention_backward,
    "matmul": arrays.matmul,
    "add_at": arrays.add_at,
}

power = NUMPY["power"]
erf = NUMPY["erf"]
gelu = NUMPY["gelu"]
gelu_backward = NUMPY["gelu_backward"]
flush_tiny = NUMPY["flush_tiny"]
layer_norm = NUMPY["layer_norm"]
layer_norm_backward = NUMPY["layer_norm_backward"]
cross_entropy = NUMPY["cross_entropy"]
cross_entropy_backward = NUMPY["cross_entropy_backward"]
attention = NUMPY["attention"]
attention_backward = NUMPY["attention_backward"]
matmul = NUMPY["matmul"]
add_at = NUMPY["add_at"]


def use(**implementations):
    """Bind kernels to other implementations, by name (`use(gelu=fast_gelu)`); returns the ones replaced.

    `use(**NUMPY)` goes back to numpy's.
    """
    unknown = sorted(set(implementations) - set(NUMPY))
    if unknown:
        raise ValueError(f"kernels.use: no kernel named {', '.join(unknown)} (the kernels: {', '.join(NUMPY)})")
    replaced = {name: globals()[name] for name in implementations}
    globals().update(implementations)
    return replaced


# ----- backends: which implementation the kernels are bound to ----------------------------
BACKEND_VARIABLE = "STEPGRAD_BACKEND"
_backend = "numpy"


def available_backends():
    """The backends that can be used here: "numpy", and "numba" when numba is installed."""
    return ["numpy"] + (["numba"] if importlib.util.find_spec("numba") is not None else [])


def backend():
    """The backend the kernels are bound to now: "numpy" or "numba"."""
    return _backend


def set_backend(name):
    """Bind the kernels to a backend, "numpy" or "numba"; returns the one used before."""
    global _backend
    if name not in ("numpy", "numba"):
        raise ValueError(f"set_backend: no backend named {name!r} (the backends: numpy, numba)")
    if name not in available_backends():
        raise ValueError("set_backend: the numba backend needs numba: pip install 'stepgrad[fast]'")
    previous = _backend
    use(**NUMPY)
    if name == "numba":
        from engine.kernels import compiled
        use(**compiled.KERNELS)
    _backend = name
    return previous


def _choose_backend():
    """numba when it is installed, unless STEPGRAD_BACKEND says otherwise."""
    wanted = os.environ.get(BACKEND_VARIABLE, "").strip().lower()
    if wanted in ("", "auto"):
        return available_backends()[-1]
    if wanted not in available_backends():
        warnings.warn(f"ignoring {BACKEND_VARIABLE}={wanted!r}: the backends here are "
                      f"{', '.join(available_backends())}; using {available_backends()[-1]}", RuntimeWarning)
        return available_backends()[-1]
    return wanted


set_backend(_choose_backend())
