"""Property-based tests: binary ops over random broadcastable shapes, reductions over
random axes, and a fuzzer of random small graphs (analytic gradients, first and
second order, against central differences). Bounded: few examples, small tensors."""
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from engine import Tensor, concatenate, enable_grad, grad, gradcheck, stack
from engine import functional as F
from op_cases import BINARY, NP_BINARY, REDUCTIONS, Arg

FAST = settings(max_examples=40, deadline=None)


def draw_array(seed, shape, kind="normal"):
    """A float64 array of `shape` in the value domain `kind` (see op_cases.Arg)."""
    return Arg(tuple(shape), kind).make(np.random.default_rng(seed), np.float64)


@FAST
@given(name=st.sampled_from(sorted(BINARY)), shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=3),
       seed=st.integers(0, 2 ** 32 - 1))
def test_binary_ops_broadcast_like_numpy(name, shapes, seed):
    _, fn, _, kind_a, kind_b = BINARY[name]
    a, b = draw_array(seed, shapes.input_shapes[0], kind_a), draw_array(seed + 1, shapes.input_shapes[1], kind_b)
    out = fn(Tensor(a), Tensor(b))
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.data, NP_BINARY.get(name, fn)(a, b), rtol=1e-12)
    assert gradcheck(fn, [Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)])


@st.composite
def reduction_axes(draw, ndim):
    """None, one axis or a tuple of distinct axes, each possibly written negatively."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    signed = [a - ndim if draw(st.booleans()) else a for a in chosen]
    return signed[0] if kind == "int" else tuple(signed)


@FAST
@given(name=st.sampled_from(sorted(REDUCTIONS)), data=st.data(), keepdims=st.booleans(),
       seed=st.integers(0, 2 ** 32 - 1))
def test_reductions_over_random_axes(name, data, keepdims, seed):
    _, fn, ref, _ = REDUCTIONS[name]
    shape = data.draw(array_shapes(min_dims=1, max_dims=4, max_side=3))
    axis = data.draw(reduction_axes(len(shape)))
    x = draw_array(seed, shape)
    out = fn(Tensor(x), axis, keepdims)
    expected = ref(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda t: fn(t, axis, keepdims), [Tensor(x, requires_grad=True)])


# ----- random graphs ----------------------------------------------------------------
# Every node broadcasts to (2, 3); each op is smooth everywhere, so central differences apply.
MIX = np.random.default_rng(0).standard_normal((3, 3))
UNARY_STEPS = {
    "neg": lambda x: -x,
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "exp_tanh": lambda x: x.tanh().exp(),
    "square": lambda x: x * x,
    "cube": lambda x: x ** 3,
    "log1p_square": lambda x: (x * x + 1.0).log(),
    "sqrt1p_square": lambda x: (1.0 + x * x).sqrt(),
    "reciprocal": lambda x: 1.0 / (1.0 + x * x),
    "softmax": lambda x: F.softmax(x, -1),
    "log_softmax_rows": lambda x: F.log_softmax(x.broadcast_to((2, 3)), 0),
    "logsumexp_keep": lambda x: F.logsumexp(x, -1, keepdims=True),
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, "tanh"),
    "layer_norm": lambda x: F.layer_norm(x.broadcast_to((2, 3)), 3, eps=0.5),
    "mean_rows": lambda x: x.mean(-1, keepdims=True),
    "sum_columns": lambda x: x.sum(0, keepdims=True),
    "var_rows": lambda x: x.var(-1, keepdims=True),
    "mix": lambda x: x.broadcast_to((2, 3)) @ Tensor(MIX),
    "transpose_twice": lambda x: x.T.reshape(x.shape[::-1]).T,
    "flip_columns": lambda x: x[..., ::-1],
    "stack_halves": lambda x: concatenate([x[:1], x[1:]], 0) if x.shape[0] == 2 else x,
}
BINARY_STEPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "smooth_div": lambda a, b: a / (b * b + 1.0),
    "smooth_pow": lambda a, b: (a * a + 1.0) ** b.tanh(),
    "smooth_max": lambda a, b: F.logsumexp(stack([a.broadcast_to((2, 3)), b.broadcast_to((2, 3))]), 0),
}
LEAF_SHAPES = ((2, 3), (3,), (2, 1))


@st.composite
def programs(draw):
    """A random graph as steps (op name, operand indices) over a pool that starts with the leaves."""
    n_leaves = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(LEAF_SHAPES)) for _ in range(n_leaves)]
    steps = []
    for i in range(draw(st.integers(1, 6))):
        pool = n_leaves + i
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(UNARY_STEPS))), (draw(st.integers(0, pool - 1)),)))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY_STEPS))),
                          (draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1)))))
    return shapes, steps, draw(st.integers(0, 2 ** 32 - 1))


def run_program(steps, leaves, nodes=None):
    """Evaluate the steps; the result adds up the last node and every earlier one (so all are used).

    `nodes`, a list, receives every node computed.
    """
    pool = list(leaves)
    for name, args in steps:
        fn = UNARY_STEPS.get(name) or BINARY_STEPS[name]
        pool.append(fn(*[pool[i] for i in args]))
    if nodes is not None:
        nodes.extend(pool[len(leaves):])
    return pool[-1] + sum(t.sum() * 0.1 for t in pool[len(leaves):-1])


def assume_moderate_values(steps, leaves):
    """Skip programs whose values grow past 1e3 (x ** 3 three times over is x ** 27): central differences
    of a sum with terms that large lose the small terms' derivatives to rounding, whatever backward says."""
    nodes = []
    run_program(steps, leaves, nodes)
    assume(all(np.all(np.abs(t.data) < 1e3) for t in nodes))


def leaves_of(shapes, seed):
    return [Tensor(draw_array(seed + i, s), requires_grad=True) for i, s in enumerate(shapes)]


@settings(max_examples=60, deadline=None)
@given(programs())
def test_random_graphs_have_correct_gradients(program):
    shapes, steps, seed = program
    assume_moderate_values(steps, leaves_of(shapes, seed))
    assert gradcheck(lambda *xs: run_program(steps, xs), leaves_of(shapes, seed))


@settings(max_examples=25, deadline=None)
@given(programs())
def test_random_graphs_have_correct_second_derivatives(program):
    shapes, steps, seed = program
    assume_moderate_values(steps, leaves_of(shapes, seed))

    def gradient(*xs):
        """x -> d/dx sum(w * out**2), recorded, flattened over the leaves the graph uses."""
        with enable_grad():
            out = run_program(steps, xs)
            w = Tensor(np.random.default_rng(seed).standard_normal(out.shape))
            gs = grad((out * out * w).sum(), xs, create_graph=True, allow_unused=True)
        return concatenate([g.reshape(-1) for g in gs if g is not None])

    assert gradcheck(gradient, leaves_of(shapes, seed))
