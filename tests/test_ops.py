"""Every op case of `op_cases.CASES`: forward against numpy, gradients against central
differences (first and second order, float64), float32 kept float32, fused ops against
their composites, and a meta-test that no op of the op table goes without a case."""
import numpy as np
import pytest

from engine import Tensor, concatenate, enable_grad, grad, gradcheck, no_grad, ops
from engine.autograd import toposort
from op_cases import CASES

BY_ID = {c.id: c for c in CASES}


def graph_ops(out):
    """The op classes recorded in the graph that produced `out`."""
    return {t._ctx.op for t in toposort([out]) if t._ctx is not None}


def weighted_loss(case, out):
    """A scalar that depends on every element of `out` (fixed weights, out's dtype)."""
    return (out * Tensor(case.weights(out.shape, out.dtype))).sum()


def test_case_ids_are_unique():
    assert len(BY_ID) == len(CASES)


@pytest.mark.parametrize("op", ops.OPS, ids=lambda op: op.__name__)
def test_every_op_has_a_case(op):
    assert any(c.op is op for c in CASES), f"no case in tests/op_cases.py exercises {op.__name__}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_case_records_its_op(case):
    assert case.op in ops.OPS
    out = case.fn(*case.inputs())
    assert case.op in graph_ops(out), f"{case.id} names {case.op.__name__} but its graph has {graph_ops(out)}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_matches_numpy(case):
    out = case.fn(*case.inputs())
    expected = np.asarray(case.ref(*case.arrays()))
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_is_the_same_without_a_graph(case):
    """An op may skip what only its backward needs when nothing is recorded (GELU keeps its
    slope only for backward); the values it returns must not change."""
    for dtype in (np.float64, np.float32):
        recorded = case.fn(*case.inputs(dtype))
        with no_grad():
            plain = case.fn(*case.inputs(dtype))
        np.testing.assert_array_equal(plain.data, recorded.data)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradcheck(case):
    assert gradcheck(case.fn, case.inputs(), **case.gradcheck_kw)


def grad_of(case, out_shape):
    """x -> d/dx sum(w * fn(x)**2), flattened and joined, recorded so it can be differentiated."""
    def fn(*xs):
        with enable_grad():  # gradcheck evaluates under no_grad; the inner gradient needs a graph
            out = case.fn(*xs)
            w = Tensor(case.weights(out_shape))
            gs = grad((out * out * w).sum(), xs, create_graph=True)
        return concatenate([g.reshape(-1) for g in gs])
    return fn


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=str)
def test_second_order_gradcheck(case):
    xs = case.inputs()
    out_shape = case.fn(*xs).shape
    assert gradcheck(grad_of(case, out_shape), xs, **case.gradcheck_kw)


def assert_backward_keeps_dtypes(out):
    """Every node's backward rule, run directly, answers in its parents' dtypes.

    The engine casts a stray float64 gradient back to a float32 parent, which would
    hide a backward rule that silently upcasts (and runs at half speed): so call the
    rules directly, both as the plain backward pass and as the recorded one.
    """
    for t in toposort([out]):
        node = t._ctx
        if node is None:
            continue
        g = Tensor(np.ones(t.shape, dtype=t.dtype))
        for mode in (no_grad, enable_grad):
            with mode():
                pgs = node.op.backward(node, g, t)
            pgs = pgs if isinstance(pgs, tuple) else (pgs,)
            for p, pg in zip(node.parents, pgs):
                if pg is not None:
                    assert pg.dtype == p.dtype, f"'{node.op.name}' backward gave {pg.dtype} for a {p.dtype} input"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_float32_stays_float32(case):
    xs = case.inputs(np.float32)
    out = case.fn(*xs)
    assert out.dtype == np.float32
    assert_backward_keeps_dtypes(out)
    np.testing.assert_allclose(out.data, case.ref(*case.arrays()), rtol=1e-4, atol=1e-5)
    gs = grad(weighted_loss(case, out), xs, create_graph=True)
    assert [g.dtype for g in gs] == [np.float32] * len(xs)
    x64 = case.inputs()
    expected = grad(weighted_loss(case, case.fn(*x64)), x64)
    for g, e in zip(gs, expected):
        np.testing.assert_allclose(g.data, e.data, rtol=2e-3, atol=2e-4)
    second = sum((g * g).sum() for g in gs if g.requires_grad)
    if isinstance(second, Tensor):  # the gradient depends on x: the second backward must stay float32 too
        second.backward()
        assert all(x.grad.dtype == np.float32 for x in xs if x.grad is not None)


@pytest.mark.parametrize("case", [c for c in CASES if issubclass(c.op, ops.FusedOp)], ids=str)
def test_fused_op_matches_its_composite(case):
    xs = case.inputs()
    out = case.fn(*xs)
    node = out._ctx
    assert node.op is case.op
    composite = case.op.composite(*node.parents, **node.attrs)
    np.testing.assert_allclose(out.data, composite.data, rtol=1e-10, atol=1e-12)
    fused_grads = grad(weighted_loss(case, out), xs)
    composite_grads = grad(weighted_loss(case, composite), xs)
    assert case.op not in graph_ops(composite)
    for f, c in zip(fused_grads, composite_grads):
        np.testing.assert_allclose(f.data, c.data, rtol=1e-9, atol=1e-12)


def test_max_three_way_tie_shares_equally():
    x = Tensor([[2.0, 2.0, 2.0, -1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1 / 3, 1 / 3, 1 / 3, 0.0]], rtol=1e-6)


def test_gradient_of_x_to_the_0_is_zero_even_for_nan_or_inf_upstream():
    x = Tensor([0.0, 1.0, -2.0], requires_grad=True)
    (x ** 0).backward(Tensor([np.inf, np.nan, 1.0]))
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])  # as PyTorch: zeros, not inf * 0 = NaN


def test_repeated_indices_accumulate():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([1, 1, 1, 3])].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 3.0, 0.0, 1.0])


@pytest.mark.parametrize("case", [c for c in CASES if len(c.args) > 1], ids=str)
def test_each_input_alone_gets_the_same_gradient(case):
    """Backward rules skip inputs that do not require grad; the others must not change."""
    xs = case.inputs()
    out = case.fn(*xs)
    full = grad(weighted_loss(case, out), xs)
    for i in range(len(xs)):
        only = [Tensor(a, requires_grad=(j == i)) for j, a in enumerate(case.arrays())]
        (g,) = grad(weighted_loss(case, case.fn(*only)), only[i])
        np.testing.assert_allclose(g.data, full[i].data, rtol=1e-12, atol=1e-15)
