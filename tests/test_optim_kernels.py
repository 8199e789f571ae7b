"""optim.kernels against the plain math: every in-place update step equals its formula bit for bit."""
import importlib.util

import numpy as np
import pytest

from optim.kernels import Kernels

DTYPES = [np.float32, np.float64]
SHAPES = [(7,), (3, 5), ()]


def arrays(dtype, shape, n, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    out = [rng.normal(size=shape) for _ in range(n)]
    return [np.asarray(np.abs(a) + 0.1 if positive else a, dtype=dtype) for a in out]  # 0-d arrays, not scalars


def then(_, array):
    """The array an in-place kernel changed (its return value is None)."""
    return array


def torch_lerp(a, b, w):
    """torch.lerp's rounding: a + w * (b - a) below 0.5, b - (b - a) * (1 - w) from 0.5 on."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


# (name, the kernel on Kernels and arrays p, g, x (returning the array that holds its result), the plain numpy)
CASES = [
    ("gradient", lambda k, p, g, x: k.gradient(p, g), lambda p, g, x: g),
    ("gradient-decay", lambda k, p, g, x: k.gradient(p, g, 0.1), lambda p, g, x: g + p * 0.1),
    ("gradient-maximize", lambda k, p, g, x: k.gradient(p, g, 0.1, True), lambda p, g, x: -g + p * 0.1),
    ("lerp_-small", lambda k, p, g, x: then(k.lerp_(p, g, 0.1), p), lambda p, g, x: torch_lerp(p, g, 0.1)),
    ("lerp_-large", lambda k, p, g, x: then(k.lerp_(p, g, 0.9), p), lambda p, g, x: torch_lerp(p, g, 0.9)),
    ("ema_square_", lambda k, p, g, x: then(k.ema_square_(x, g, 0.99), x),
     lambda p, g, x: x * 0.99 + g * (1 - 0.99) * g),
    ("add_square_", lambda k, p, g, x: then(k.add_square_(x, g), x), lambda p, g, x: x + g * g),
    ("momentum_", lambda k, p, g, x: then(k.momentum_(x, g, 0.9, 0.3), x), lambda p, g, x: x * 0.9 + g * (1 - 0.3)),
    ("nesterov", lambda k, p, g, x: k.nesterov(g, x, 0.9), lambda p, g, x: x * 0.9 + g),
    ("quotient", lambda k, p, g, x: k.quotient(g, x), lambda p, g, x: g / x),
    ("sub_scaled_", lambda k, p, g, x: then(k.sub_scaled_(p, g, 0.01), p), lambda p, g, x: p - g * 0.01),
    ("denominator", lambda k, p, g, x: k.denominator(x, 1e-8), lambda p, g, x: np.sqrt(x) + 1e-8),
    ("denominator-scaled", lambda k, p, g, x: k.denominator(x, 1e-8, scale=0.3),
     lambda p, g, x: np.sqrt(x) / 0.3 + 1e-8),
    ("denominator-centred", lambda k, p, g, x: k.denominator(x + g * g, 1e-8, mean=g),
     lambda p, g, x: np.sqrt((x + g * g) - g * g) + 1e-8),
    ("divide_step_", lambda k, p, g, x: then(k.divide_step_(p, g, x, 0.01), p), lambda p, g, x: p - 0.01 * g / x),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name, kernel, plain", CASES, ids=[c[0] for c in CASES])
def test_kernel_equals_its_formula_bit_for_bit(name, kernel, plain, dtype, shape):
    p, g, x = arrays(dtype, shape, 2) + arrays(dtype, shape, 1, seed=1, positive=True)
    expected = np.asarray(plain(p.copy(), g.copy(), x.copy()), dtype=dtype)
    k = Kernels()
    for _ in range(2):  # the second call runs on the scratch arrays the first one left
        result = kernel(k, p.copy(), g.copy(), x.copy())
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, expected)


def test_scratch_arrays_are_reused_and_never_the_inputs():
    k = Kernels()
    p, g = arrays(np.float32, (4, 3), 2)
    first = k.gradient(p, g, 0.1)
    assert k.gradient(p, g, 0.1) is first and first is not g
    assert k.nesterov(g, p, 0.9) is not first  # each use has its own array
    other = k.gradient(np.zeros(5, np.float32), np.ones(5, np.float32), 0.1)
    assert other.shape == (5,) and k.gradient(p, g, 0.1) is first  # one per shape


NUMBA_MISSING = importlib.util.find_spec("numba") is None


@pytest.mark.skipif(NUMBA_MISSING, reason="the numba backend is not installed (pip install 'stepgrad[fast]')")
@pytest.mark.parametrize("settings", [
    dict(cls="AdamW", weight_decay=0.1), dict(cls="AdamW", weight_decay=0.1, maximize=True),
    dict(cls="Adam", weight_decay=0.0, betas=(0.3, 0.99)), dict(cls="Adam", weight_decay=0.1),
    dict(cls="AdamW", weight_decay=0.1, amsgrad=True)], ids=str)
def test_adam_on_the_compiled_backend_takes_the_same_steps_bit_for_bit(settings, monkeypatch):
    import optim
    from engine import Tensor, kernels
    from engine.kernels import compiled
    fused, one_pass = [], compiled.adamw_

    def counted(*args):
        fused.append(one_pass(*args))
        return fused[-1]
    monkeypatch.setattr(compiled, "adamw_", counted)
    settings = dict(settings)
    cls = getattr(optim, settings.pop("cls"))
    start = [np.asarray(a, np.float32) for a in arrays(np.float64, (5, 7), 2, seed=1)]
    grads = [np.asarray(a, np.float32) for a in arrays(np.float64, (5, 7), 8, seed=2)]

    def trajectory(backend):
        before = kernels.set_backend(backend)
        try:
            params = [Tensor(a.copy(), requires_grad=True) for a in start]
            opt = cls(params, lr=0.05, **settings)
            for i in range(4):
                for p, g in zip(params, grads[2 * i:2 * i + 2]):
                    p.grad = Tensor(g)
                opt.step()
            return [p.numpy() for p in params]
        finally:
            kernels.set_backend(before)

    for a, b in zip(trajectory("numpy"), trajectory("numba")):
        np.testing.assert_array_equal(a, b)
    step_by_step = settings.get("amsgrad") or (cls is optim.Adam and settings["weight_decay"] != 0)
    assert fused == ([] if step_by_step else [True] * 8)                # one pass per parameter and step, or none
