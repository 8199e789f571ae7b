"""Every kernel against the plain math it stands for.

One row of `REFERENCES` per kernel of `engine.kernels.NUMPY`: a hypothesis strategy
that draws the kernel's arguments (random shapes, float32, inputs contiguous or not)
and the same computation written plainly in float64. Each is checked in one thread and
split over three (row blocks forced on however small the work), and a kernel without
a row fails `test_every_kernel_has_a_reference`. The compiled backend's kernels
(`engine.kernels.compiled.KERNELS`) are checked against the same rows when numba is
installed.
"""
import importlib.util
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import kernels
from engine.kernels import compiled, threads

F32 = np.float32


@pytest.fixture(params=["one thread", "three threads"])
def thread_mode(request, monkeypatch):
    """Run the kernels in the calling thread, or split into three row blocks even for tiny work."""
    if request.param == "three threads":
        monkeypatch.setattr(threads, "MIN_WORK", 0)
        monkeypatch.setattr(threads, "_threads", 3)
        monkeypatch.setattr(threads, "_pool", None)
    else:
        monkeypatch.setattr(threads, "_threads", 1)
    return request.param


# ----- drawing inputs -------------------------------------------------------------------
@st.composite
def arrays(draw, shape, low=-3.0, high=3.0):
    """A float32 array of `shape` with values in [low, high], laid out contiguously, in Fortran
    order, or as a strided view into a larger array."""
    seed = draw(st.integers(0, 2**32 - 1))
    a = np.random.default_rng(seed).uniform(low, high, shape).astype(F32)
    layout = draw(st.sampled_from(["contiguous", "fortran", "strided"]))
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=F32)
        big[..., ::2] = a
        return big[..., ::2]
    return a


def dims(n, low=1, high=5):
    return st.tuples(*[st.integers(low, high)] * n)


def f64(*xs):
    return [None if x is None else np.asarray(x, dtype=np.float64) for x in xs]


def normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def causal(t, s):
    """-inf above the diagonal aligned to the last query: query i sees keys up to s - t + i."""
    return np.where(np.tril(np.ones((t, s), bool), s - t), 0.0, -np.inf)


# ----- each kernel: how to draw its arguments, and its plain math in float64 -------------
@st.composite
def power_args(draw):
    return draw(arrays(draw(dims(2)), 0.5, 2.0)), draw(st.sampled_from([2, 3, 0.5, -1, 1.5, -2.5, 0]))


def power_ref(x, p):
    return np.power(f64(x)[0], float(p))


@st.composite
def erf_args(draw):
    return (draw(arrays(draw(dims(2)), -5.0, 5.0)),)


def erf_ref(x):
    return np.vectorize(math.erf)(f64(x)[0])


@st.composite
def gelu_args(draw):
    return draw(arrays(draw(dims(3)), -8.0, 8.0)), draw(st.booleans())


def gelu_ref(x, with_slope):
    x = f64(x)[0]
    cdf = normal_cdf(x)
    density = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x * cdf, (cdf + x * density) if with_slope else None


@st.composite
def gelu_backward_args(draw):
    shape = draw(dims(2))
    x = draw(arrays(shape, -8.0, 8.0))
    slope = gelu_ref(x, True)[1].astype(F32) if draw(st.booleans()) else None   # kept by `gelu`, or not
    return draw(arrays(shape)), x, slope


def gelu_backward_ref(g, x, slope):
    g, x = f64(g, x)
    return g * gelu_ref(x, True)[1]


@st.composite
def flush_tiny_args(draw):
    p = draw(arrays(draw(dims(2)), 0.0, 1.0)).copy()
    p.reshape(-1)[::3] = np.float32(1e-35)      # denormal-sized values among the probabilities
    return (p,)


def flush_tiny_ref(p):
    p = f64(p)[0]
    return np.where(p < 1e-30, 0.0, p)


@st.composite
def layer_norm_args(draw):
    n, d = draw(dims(2, high=9))
    weight = draw(st.one_of(st.none(), arrays((d,))))
    bias = draw(st.one_of(st.none(), arrays((d,))))
    return draw(arrays((n, d))), weight, bias, draw(st.sampled_from([1e-5, 0.1]))


def layer_norm_ref(x, weight, bias, eps):
    x, weight, bias = f64(x, weight, bias)
    rstd = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - x.mean(axis=1, keepdims=True)) * rstd
    y = xhat * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)
    return y, xhat, rstd


@st.composite
def layer_norm_backward_args(draw):
    x, weight, _, eps = draw(layer_norm_args())
    _, xhat, rstd = layer_norm_ref(x, None, None, eps)
    return draw(arrays(x.shape)), xhat.astype(F32), rstd.astype(F32), weight, draw(st.booleans())


def layer_norm_backward_ref(g, xhat, rstd, weight, with_bias):
    g, xhat, rstd, weight = f64(g, xhat, rstd, weight)
    ghat = g if weight is None else g * weight
    dx = (ghat - ghat.mean(axis=1, keepdims=True) - xhat * (ghat * xhat).mean(axis=1, keepdims=True)) * rstd
    return dx, None if weight is None else (g * xhat).sum(axis=0), g.sum(axis=0) if with_bias else None


@st.composite
def cross_entropy_args(draw):
    n, c = draw(dims(2, high=9))
    targets = np.asarray(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), dtype=np.int64)
    return draw(arrays((n, c), -30.0, 30.0)), targets


def cross_entropy_ref(x, targets):
    x = f64(x)[0]
    lse = np.log(np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)) + x.max(axis=1)
    p = softmax(x)
    return lse - x[np.arange(len(targets)), targets], np.where(p < 1e-30, 0.0, p)


@st.composite
def cross_entropy_backward_args(draw):
    x, targets = draw(cross_entropy_args())
    return cross_entropy_ref(x, targets)[1].astype(F32), targets, draw(arrays((len(targets), 1), 0.0, 2.0))


def cross_entropy_backward_ref(probs, targets, weight):
    probs, weight = f64(probs, weight)
    onehot = np.eye(probs.shape[1])[targets]
    return (probs - onehot) * weight


@st.composite
def attention_args(draw):
    b, h, t, d = draw(dims(4, high=4))
    s = draw(st.integers(t, t + 2))
    mask = draw(st.one_of(st.none(), arrays((b, h, t, s), 0.0, 1.5)))
    return (draw(arrays((b, h, t, d))), draw(arrays((b, h, s, d))), draw(arrays((b, h, s, draw(st.integers(1, 4))))),
            draw(st.booleans()), draw(st.sampled_from([0.5, 1.0 / math.sqrt(d)])), mask)


def attention_ref(q, k, v, is_causal, scale, dropout_mask):
    q, k, v, mask = f64(q, k, v, dropout_mask)
    p = softmax(q @ k.swapaxes(-1, -2) * scale + (causal(q.shape[-2], k.shape[-2]) if is_causal else 0.0))
    return (p if mask is None else p * mask) @ v, p


@st.composite
def attention_backward_args(draw):
    q, k, v, is_causal, scale, mask = draw(attention_args())
    packed = None
    if draw(st.booleans()):  # q, k, v slices of one (3, B, H, T, D) array, laid out as nanoGPT's transposed qkv
        qkv = np.stack([q, q[..., ::-1, :], q[..., ::-1, :] * 0.5])       # (3, B, H, T, D)
        packed = np.ascontiguousarray(qkv.transpose(1, 3, 0, 2, 4)).transpose(2, 0, 3, 1, 4)
        q, k, v = packed
        mask = None if mask is None else mask[..., :q.shape[-2]]
    _, p = attention_ref(q, k, v, is_causal, scale, mask)
    g = draw(arrays(q.shape[:-1] + v.shape[-1:]))
    return g, p.astype(F32), q, k, v, scale, mask, packed


def attention_backward_ref(g, att, q, k, v, scale, dropout_mask, packed):
    g, p, q, k, v, mask = f64(g, att, q, k, v, dropout_mask)
    dv = (p if mask is None else p * mask).swapaxes(-1, -2) @ g
    dp = g @ v.swapaxes(-1, -2) * (1.0 if mask is None else mask)
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * scale
    grads = (ds @ k, ds.swapaxes(-1, -2) @ q, dv)
    return np.stack(grads) if packed is not None else grads


@st.composite
def matmul_args(draw):
    m, k, n = draw(dims(3))
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    b_shape = draw(st.sampled_from([(k, n), (k,), lead + (k, n)]))
    return draw(arrays(lead + (m, k))), draw(arrays(b_shape))


def matmul_ref(a, b):
    a, b = f64(a, b)
    return a @ b


@st.composite
def add_at_args(draw):
    rows, cols = draw(dims(2))
    n = draw(st.integers(0, 7))
    picked = np.asarray(draw(st.lists(st.integers(-rows, rows - 1), min_size=n, max_size=n)), dtype=np.int64)
    if draw(st.booleans()):     # whole rows, the case the kernel sorts and sums
        return np.zeros((rows, cols), F32), (picked,), draw(arrays((n, cols)))
    other = np.asarray(draw(st.lists(st.integers(0, cols - 1), min_size=n, max_size=n)), dtype=np.int64)
    return np.zeros((rows, cols), F32), (picked, other), draw(arrays((n,)))


def add_at_ref(z, idx, g):
    z = z.astype(np.float64)
    np.add.at(z, idx, f64(g)[0])
    return z


REFERENCES = {  # kernel name: (its arguments, its plain math, (rtol, atol) in float32)
    "power": (power_args(), power_ref, (1e-6, 1e-6)),
    "erf": (erf_args(), erf_ref, (0, 5e-7)),  # 1.5e-7 from the approximation, the rest float32 rounding
    "gelu": (gelu_args(), gelu_ref, (1e-6, 1e-6)),
    "gelu_backward": (gelu_backward_args(), gelu_backward_ref, (1e-6, 1e-6)),
    "flush_tiny": (flush_tiny_args(), flush_tiny_ref, (0, 0)),
    "layer_norm": (layer_norm_args(), layer_norm_ref, (1e-4, 1e-5)),
    "layer_norm_backward": (layer_norm_backward_args(), layer_norm_backward_ref, (1e-4, 1e-5)),
    "cross_entropy": (cross_entropy_args(), cross_entropy_ref, (1e-5, 1e-5)),
    "cross_entropy_backward": (cross_entropy_backward_args(), cross_entropy_backward_ref, (1e-6, 1e-6)),
    "attention": (attention_args(), attention_ref, (1e-5, 1e-6)),
    "attention_backward": (attention_backward_args(), attention_backward_ref, (1e-4, 1e-5)),
    "matmul": (matmul_args(), matmul_ref, (1e-5, 1e-5)),
    "add_at": (add_at_args(), add_at_ref, (1e-6, 1e-6)),
}


def assert_matches(got, expected, tolerance, what):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), what
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_matches(a, b, tolerance, f"{what}[{i}]")
        return
    if expected is None:
        assert got is None, what
        return
    assert got.dtype == F32, f"{what}: {got.dtype}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    np.testing.assert_allclose(got, expected, rtol=tolerance[0], atol=tolerance[1], err_msg=what)


@pytest.mark.parametrize("name", kernels.NUMPY)
def test_every_kernel_has_a_reference(name):
    assert name in REFERENCES, f"add a row for kernel {name!r} to REFERENCES in tests/test_kernels.py"


NUMBA_MISSING = importlib.util.find_spec("numba") is None
IMPLEMENTATIONS = ([(name, "numpy") for name in kernels.NUMPY] +
                   [pytest.param(name, "numba", marks=pytest.mark.skipif(
                       NUMBA_MISSING, reason="the numba backend is not installed (pip install 'stepgrad[fast]')"))
                    for name in compiled.KERNELS])


@pytest.mark.parametrize("name, backend", IMPLEMENTATIONS)
def test_kernel_matches_the_plain_math(name, backend, thread_mode):
    draw_args, reference, tolerance = REFERENCES[name]
    kernel = kernels.NUMPY[name] if backend == "numpy" else compiled.KERNELS[name]

    @settings(max_examples=30, deadline=None, derandomize=True)
    @given(draw_args)
    def check(args):
        expected = reference(*args)
        kept = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        got = kernel(*args)
        if name == "add_at":       # it adds into its first argument
            got = args[0]
        assert_matches(got, expected, tolerance, name)
        for before, after in zip(kept, args):
            if isinstance(before, np.ndarray) and name not in ("flush_tiny", "add_at"):
                np.testing.assert_array_equal(before, after, err_msg=f"{name} changed an input")

    check()


def test_packed_attention_gradient_is_laid_out_as_its_input():
    """nanoGPT's qkv is a transposed view: its gradient, laid out the same, reshapes back without a copy."""
    b, t, h, d = 2, 5, 3, 4
    rng = np.random.default_rng(0)
    qkv = rng.standard_normal((b, t, 3 * h * d)).astype(F32).reshape(b, t, 3, h, d).transpose(2, 0, 3, 1, 4)
    y, att = kernels.attention(qkv[0], qkv[1], qkv[2], True, 0.5, None)
    dqkv = kernels.attention_backward(np.ones_like(y), att, qkv[0], qkv[1], qkv[2], 0.5, None, packed=qkv)
    assert dqkv.strides == qkv.strides
    assert np.shares_memory(dqkv.transpose(1, 3, 0, 2, 4).reshape(b, t, 3 * h * d), dqkv)


def test_flush_tiny_works_in_place():
    p = np.array([0.5, 1e-35, 0.25], dtype=F32)
    assert kernels.flush_tiny(p) is p and p.tolist() == [0.5, 0.0, 0.25]


def test_use_replaces_a_kernel_for_the_ops_and_gives_the_old_one_back():
    from engine import Tensor
    calls = []

    def spy(x, p):
        calls.append(p)
        return kernels.NUMPY["power"](x, p)

    replaced = kernels.use(power=spy)
    try:
        assert (Tensor([1.0, 2.0]) ** 3).tolist() == [1.0, 8.0] and calls == [3]
    finally:
        kernels.use(**replaced)
    assert kernels.power is kernels.NUMPY["power"]
    with pytest.raises(ValueError, match="no kernel named sine"):
        kernels.use(sine=np.sin)


@pytest.mark.parametrize("name, backend", [p for p in IMPLEMENTATIONS if "attention_backward" in str(p)])
def test_attention_backward_takes_an_upstream_gradient_in_any_layout(name, backend):
    """numpy may lay a matmul's result out like its inputs: with g and v in Fortran order, g @ vᵀ was too, and
    the compiled softmax step, working in place on a reshaped view of it, changed a copy instead."""
    kernel = kernels.NUMPY[name] if backend == "numpy" else compiled.KERNELS[name]
    rng = np.random.default_rng(0)
    q, k, v = (np.asfortranarray(rng.standard_normal((2, 3, 4, 5)).astype(F32)) for _ in range(3))  # (B, H, T, D)
    g = np.asfortranarray(rng.standard_normal((2, 3, 4, 5)).astype(F32))
    _, att = attention_ref(q, k, v, True, 0.5, None)
    expected = attention_backward_ref(g, att.astype(F32), q, k, v, 0.5, None, None)
    assert_matches(kernel(g, att.astype(F32), q, k, v, 0.5, None), expected, REFERENCES[name][2], name)
