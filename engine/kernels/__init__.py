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
"""
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
