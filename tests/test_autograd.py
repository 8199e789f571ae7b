"""The autograd machinery: graph traversal, accumulation, freeing, higher orders, errors."""
import contextlib
import gc
import inspect
import os
import sys
import warnings
import weakref

import numpy as np
import pytest

import optim
from engine import (ShapeError, Tensor, concatenate, detect_anomaly, enable_grad, grad, no_grad,
                    set_grad_enabled, stack)
from engine.grad_mode import is_grad_enabled

RNG = np.random.default_rng(0)


def leaf(*shape, dtype=np.float64):
    """A random leaf tensor that requires grad."""
    return Tensor(RNG.standard_normal(shape).astype(dtype), requires_grad=True)


def here():
    """'file:line' of the caller, the way anomaly messages name a place."""
    frame = inspect.currentframe().f_back
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


# ----- second and higher derivatives ----------------------------------------------
def test_hessian_of_cubic_plus_quadratic_form():
    a = RNG.standard_normal((4, 4))
    x = leaf(4)
    f = (x * x * x).sum() + x @ (Tensor(a) @ x)  # sum(x^3) + x^T A x
    (g,) = grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2 + (a + a.T) @ x.data, rtol=1e-12)
    rows = [grad(g[i], x, retain_graph=True)[0].data for i in range(4)]
    np.testing.assert_allclose(np.stack(rows), np.diag(6 * x.data) + a + a.T, rtol=1e-12)


def test_hessian_vector_product_of_cubic_plus_quadratic_form():
    a = RNG.standard_normal((5, 5))
    x, v = leaf(5), RNG.standard_normal(5)
    f = (x ** 3).sum() + x @ (Tensor(a) @ x)
    (g,) = grad(f, x, create_graph=True)
    (hv,) = grad((g * Tensor(v)).sum(), x)
    np.testing.assert_allclose(hv.data, (np.diag(6 * x.data) + a + a.T) @ v, rtol=1e-12)


def test_third_derivative():
    x = leaf(3)
    (g1,) = grad((x ** 4).sum(), x, create_graph=True)
    (g2,) = grad(g1.sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x)
    np.testing.assert_allclose(g3.data, 24 * x.data, rtol=1e-12)


def mlp_loss(params, x, y):
    """Mean squared error of a 3-6-1 tanh MLP."""
    w1, b1, w2 = params
    return (((x @ w1 + b1).tanh() @ w2 - y) ** 2).mean()


def test_mlp_hessian_vector_product_matches_differences_of_gradients():
    x, y = Tensor(RNG.standard_normal((8, 3))), Tensor(RNG.standard_normal((8, 1)))
    params = [leaf(3, 6), leaf(6), leaf(6, 1)]
    vs = [RNG.standard_normal(p.shape) for p in params]
    gs = grad(mlp_loss(params, x, y), params, create_graph=True)
    hvs = grad(sum((g * Tensor(v)).sum() for g, v in zip(gs, vs)), params)

    def grads_at(step):
        moved = [Tensor(p.data + step * v, requires_grad=True) for p, v in zip(params, vs)]
        return grad(mlp_loss(moved, x, y), moved)
    eps = 1e-5
    for hv, up, down in zip(hvs, grads_at(eps), grads_at(-eps)):
        np.testing.assert_allclose(hv.data, (up.data - down.data) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_backward_create_graph_gives_differentiable_grad():
    x = leaf(3)
    (x * x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (h,) = grad(x.grad.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


# ----- graph size and shape --------------------------------------------------------
def test_100k_node_chain_backpropagates_without_recursion():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    limit = sys.getrecursionlimit()
    y.backward()
    assert sys.getrecursionlimit() == limit
    np.testing.assert_allclose(x.grad.data, 1.00001 ** 100_000, rtol=1e-9)
    del y  # freeing the 100k-deep chain must not overflow the C stack either


def test_10k_way_fan_out_backpropagates():
    x = leaf(2)
    total = stack([x * float(i) for i in range(10_000)]).sum()
    total.backward()
    np.testing.assert_allclose(x.grad.data, [sum(range(10_000))] * 2)


def test_node_used_twice_gets_the_sum():
    x = leaf(3)
    (x * x + x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1)
    a = leaf(2)
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [2.0, 2.0])


def test_diamond_graph():
    x = leaf(3)
    h = x.exp()
    (h * h.tanh() + h).sum().backward()
    e = np.exp(x.data)
    np.testing.assert_allclose(x.grad.data, e * np.tanh(e) + e * e * (1 - np.tanh(e) ** 2) + e)


@pytest.mark.parametrize("sa, sb", [((3, 1), (4,)), ((2, 3, 4), (4,)), ((1, 4), (3, 1)), ((), (2, 3)),
                                    ((2, 1, 3), (5, 1))])
def test_broadcast_gradients_are_summed_back(sa, sb):
    a, b = leaf(*sa), leaf(*sb)
    (a * b).sum().backward()
    full = np.broadcast_shapes(sa, sb)
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(a.grad.data, np.broadcast_to(b.data, full).sum(
        axis=tuple(range(len(full) - len(sa)))).sum(axis=tuple(i for i, s in enumerate(sa) if s == 1),
                                                    keepdims=True).reshape(sa))


# ----- accumulation, retaining and freeing -----------------------------------------
def test_grad_accumulates_over_two_backward_calls():
    x = leaf(3)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3.0)


def test_grad_accumulation_does_not_alias_the_first_gradient():
    x, w = leaf(3), leaf(3)
    y = (x * w).sum()
    y.backward(retain_graph=True)
    first = x.grad
    snapshot = first.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * w.data)
    assert w.grad.data is not x.grad.data
    np.testing.assert_allclose(snapshot, w.data)


@pytest.mark.parametrize("fn", [
    lambda x, y: x + y, lambda x, y: y + x.sum(), lambda x, y: x - y, lambda x, y: x.reshape(2, 3) + y,
    lambda x, y: concatenate([x, y], 0).T, lambda x, y: x * 1.0 + y.transpose(0, 1),
    lambda x, y: x[0] + y[:, 1:2].sum(0), lambda x, y: (x + y).sum(0),
], ids=["add", "add-sum", "sub", "reshape", "concat-T", "transpose", "index", "sum"])
def test_leaf_grads_own_their_memory_and_accumulate(fn):
    x, y = leaf(2, 3), leaf(2, 3)
    out = fn(x, y)
    seed = Tensor(RNG.standard_normal(out.shape))
    out.backward(seed, retain_graph=True)
    first = [x.grad.data.copy(), y.grad.data.copy()]
    arrays = [x.grad.data, y.grad.data, seed.data, x.data, y.data]
    for i in range(2):
        assert not any(np.shares_memory(arrays[i], other) for other in arrays[:i] + arrays[i + 1:])
    out.backward(seed)
    np.testing.assert_allclose(x.grad.data, 2 * first[0])
    np.testing.assert_allclose(y.grad.data, 2 * first[1])


def test_backward_seed_is_not_aliased_into_grad():
    x = leaf(3)
    seed = Tensor(np.ones(3))
    (x * 1.0).backward(seed)
    x.grad.data += 5.0
    np.testing.assert_array_equal(seed.data, np.ones(3))


def test_second_backward_through_freed_graph_raises():
    x = leaf(3)
    y = (x.exp() * 2.0).sum()
    y.backward()
    assert y.grad_fn.freed
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3)
    y = (x.exp() * 2.0).sum()
    y.backward(retain_graph=True)
    assert not y.grad_fn.freed
    y.backward()
    np.testing.assert_allclose(x.grad.data, 4 * np.exp(x.data))


def test_grad_leaves_dot_grad_alone():
    x = leaf(3)
    (g,) = grad((x * x).sum(), x)
    assert x.grad is None
    np.testing.assert_allclose(g.data, 2 * x.data)
    x.grad = Tensor(np.full(3, 7.0))
    grad((x * x).sum(), [x])
    np.testing.assert_array_equal(x.grad.data, np.full(3, 7.0))


def test_grad_of_several_outputs_with_grad_outputs():
    x = leaf(2)
    ya, yb = x * 2.0, x * x
    (g,) = grad([ya, yb], [x], grad_outputs=[Tensor(np.ones(2)), Tensor(np.array([1.0, 3.0]))])
    np.testing.assert_allclose(g.data, 2.0 + np.array([1.0, 3.0]) * 2 * x.data)


def test_grad_unused_input():
    x, unused = leaf(2), leaf(2)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        grad((x * 2.0).sum(), [x, unused])
    gx, gu = grad((x * 2.0).sum(), [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_array_equal(gx.data, [2.0, 2.0])


def test_grad_with_respect_to_an_intermediate():
    x = leaf(3)
    h = x * 2.0
    (gh,) = grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.data, 2 * h.data)


@pytest.mark.parametrize("a_first", [True, False])
def test_an_intermediate_gradient_stays_as_returned_while_the_pass_goes_on(a_first):
    """t = p - 1 hands t's gradient straight to p, which then receives a second
    contribution: adding it must not change the gradient of t already returned."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    p = x * 3.0
    t = (p - 1.0).retain_grad()
    a, b = (t * Tensor([10.0, 20.0])).sum(), (p * Tensor([100.0, 200.0])).sum()
    loss = a + b if a_first else b + a
    gt, gx = grad(loss, [t, x], retain_graph=True)
    np.testing.assert_array_equal(gt.data, [10.0, 20.0])
    np.testing.assert_array_equal(gx.data, [330.0, 660.0])
    loss.backward()
    np.testing.assert_array_equal(t.grad.data, [10.0, 20.0])
    np.testing.assert_array_equal(x.grad.data, [330.0, 660.0])


def test_nodes_are_numbered_in_the_order_they_were_computed():
    x = leaf(3)
    a = x * 2.0
    b = (x + 1.0).exp()
    c = a + b
    seqs = [t.grad_fn.seq for t in (a, b.grad_fn.parents[0], b, c)]
    assert [s - seqs[0] for s in seqs] == [0, 1, 2, 3]


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf(3)
    h = (x * 2.0).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * h.data)
    np.testing.assert_allclose(x.grad.data, 4 * h.data)


def test_detach_cuts_the_graph():
    x = leaf(3)
    (x * x.detach()).sum().backward()
    np.testing.assert_allclose(x.grad.data, x.data)


@contextlib.contextmanager
def gc_disabled():
    """Only reference counting frees objects inside: a graph with a cycle would stay alive."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_graph_is_freed_when_the_loss_is_dropped():
    with gc_disabled():
        x = leaf(50, 50)
        h = (x @ x).tanh()
        ref = weakref.ref(h)
        loss = (h * h).sum()
        del h
        assert ref() is not None  # still reachable through loss's graph
        loss.backward()
        del loss
        assert ref() is None


def test_graph_is_freed_without_backward():
    with gc_disabled():
        x = leaf(4)
        h = x.exp()
        ref = weakref.ref(h)
        loss = h.sum()
        del h, loss
        assert ref() is None


def test_graph_recorded_by_create_graph_is_freed():
    with gc_disabled():
        x = leaf(4)
        h = x.tanh()
        ref = weakref.ref(h)
        (g,) = grad((h * h).sum(), x, create_graph=True)
        del h
        (g * g).sum().backward()
        del g
        assert ref() is None


def test_backward_releases_saved_arrays():
    x = leaf(2, 4)
    y = (x.exp() * 3.0).sum()
    mul_node = y.grad_fn.parents[0].grad_fn
    y.backward()
    assert mul_node.freed and mul_node.saved is None


def test_cast_gradient_comes_back_in_the_source_dtype():
    x = leaf(3, dtype=np.float32)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, 2 * x.data, rtol=1e-6)


# ----- in-place modification -------------------------------------------------------
def test_in_place_change_of_a_saved_tensor_is_detected():
    w, x = leaf(), leaf()
    y = w * x
    with no_grad():
        w -= 1.0
    with pytest.raises(RuntimeError, match="'mul'.*modified in place"):
        y.backward()


def test_in_place_change_of_an_output_its_backward_reads_is_detected():
    x = leaf(2)
    y = x.exp()
    with no_grad():
        y += 1.0
    with pytest.raises(RuntimeError, match="output of 'exp'.*modified in place"):
        y.sum().backward()


def test_in_place_change_of_an_output_its_backward_ignores_is_allowed():
    x = leaf(2)
    h = x * 2.0
    with no_grad():
        h += 1.0
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_in_place_change_of_a_tensor_outside_the_graph_is_no_reason_to_refuse():
    w, x, other = leaf(), leaf(), leaf()
    y = w * x
    with no_grad():
        other -= 1.0  # a change after the graph was recorded, but not to anything it saved
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, x.data)


def test_an_optimizer_step_between_forward_and_backward_is_detected():
    w = leaf(3)
    y = w * w
    w.grad = Tensor(np.ones(3, dtype=np.float32))
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match=r"'mul'.*modified in place.*version 1 now"):
        y.sum().backward()


def test_in_place_on_a_tensor_that_requires_grad_is_refused_while_recording():
    w = leaf(3)
    with pytest.raises(RuntimeError, match="no_grad"):
        w += 1.0


def test_in_place_update_under_no_grad_then_fresh_graph_is_fine():
    w = leaf(3)
    with no_grad():
        w -= 1.0
    (w * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0] * 3)


# ----- anomaly detection -----------------------------------------------------------
def test_anomaly_names_log_in_forward_with_the_place():
    x = leaf(3)
    with detect_anomaly():
        with pytest.raises(FloatingPointError, match="'log'") as err:
            place = here(); (x * 0.0).log() * 0.0  # noqa: E702  (log(0) * 0 style NaN)
    assert place in str(err.value)


def test_anomaly_names_sqrt_when_its_backward_gives_inf():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with detect_anomaly():
        place = here(); y = x.sqrt().sum()  # noqa: E702
        with np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="'sqrt' backward") as err:
            y.backward()
    assert place in str(err.value)


def test_inf_and_nan_come_through_without_a_numpy_warning_as_in_pytorch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # any numpy RuntimeWarning fails the test
        x, y = Tensor([0.0, 1.0], requires_grad=True), Tensor([0.0, 2.0], requires_grad=True)
        q = x / y                                       # 0/0
        q.sum().backward()                              # d/dx = 1/y, d/dy = -x/y²: 1/0 and -0/0
        z, w = Tensor([0.0, 4.0], requires_grad=True), Tensor([0.0, 1.0], requires_grad=True)
        z.sqrt().sum().backward()                       # 1/(2·√0)
        w.log().sum().backward()                        # 1/0
    np.testing.assert_array_equal(q.data, [np.nan, 0.5])
    np.testing.assert_array_equal(x.grad.data, [np.inf, 0.5])
    np.testing.assert_array_equal(y.grad.data, [np.nan, -0.25])
    np.testing.assert_array_equal(z.grad.data, [np.inf, 0.25])
    np.testing.assert_array_equal(w.grad.data, [np.inf, 1.0])


def test_anomaly_off_lets_nan_through():
    x = Tensor(np.array([0.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x.log() * 0.0
    assert np.isnan(y.data).all()


# ----- grad modes -----------------------------------------------------------------
def test_no_grad_and_enable_grad_nest():
    x = leaf(2)
    with no_grad():
        assert not (x * 2.0).requires_grad
        with enable_grad():
            y = x * 2.0
            assert y.requires_grad and is_grad_enabled()
        assert not (x * 2.0).requires_grad and not is_grad_enabled()
        with set_grad_enabled(True):
            assert (x * 2.0).requires_grad
    assert (x * 2.0).requires_grad and is_grad_enabled()


def test_no_grad_as_decorator_and_after_an_exception():
    @no_grad()
    def double(t):
        return t * 2.0
    x = leaf(2)
    assert not double(x).requires_grad
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0
    assert is_grad_enabled()


def test_same_no_grad_object_can_be_reentered():
    x, ctx = leaf(2), no_grad()
    with ctx:
        with ctx:
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert (x * 1.0).requires_grad


# ----- errors ---------------------------------------------------------------------
def test_int_tensor_cannot_require_grad():
    with pytest.raises(ValueError, match="only floating-point.*int"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(ValueError, match="floating-point"):
        Tensor(np.arange(3)).requires_grad_()


def test_backward_on_non_scalar_says_what_to_pass():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*pass a gradient of that shape"):
        (x * 2.0).backward()
    (x * 2.0).backward(Tensor(np.ones((2, 3))))
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_backward_with_a_wrongly_shaped_seed():
    x = leaf(2, 3)
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2.0).backward(Tensor(np.ones(3)))


def test_backward_on_a_tensor_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0, 2.0]).sum().backward()


@pytest.mark.parametrize("fn, name, shapes", [
    (lambda a, b: a + b, "add", ((2, 3), (4,))),
    (lambda a, b: a * b, "mul", ((2, 3), (3, 2))),
    (lambda a, b: a @ b, "matmul", ((2, 3), (4, 5))),
    (lambda a, b: concatenate([a, b], 0), "concatenate", ((2, 3), (2, 4))),
])
def test_shape_mismatch_names_the_op_and_both_shapes(fn, name, shapes):
    a, b = leaf(*shapes[0]), leaf(*shapes[1])
    with pytest.raises(ShapeError) as err:
        fn(a, b)
    msg = str(err.value)
    assert name in msg and str(shapes[0]) in msg and str(shapes[1]) in msg


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    with pytest.raises(RuntimeError, match="detach"):
        (leaf(2) * 2.0).requires_grad_(False)


def test_numpy_errstate_raise_chosen_by_the_caller_still_raises_in_backward_and_division():
    x = Tensor([0.0, 4.0], requires_grad=True)
    y = x.sqrt().sum()
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        y.backward()                                    # 1/(2·√0)
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        Tensor([1.0]) / Tensor([0.0])
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        Tensor([0.0]).log()
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        Tensor([-1.0]).sqrt()
