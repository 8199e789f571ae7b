"""engine.trace: the backward pass written out edge by edge, without touching the graph."""
import numpy as np
import pytest

from engine import Tensor, autograd, no_grad
from engine import functional as F
from engine.ops import OPS, Op
from engine.trace import trace_backward
from op_cases import CASES


def _mlp(rng):
    x = Tensor(rng.standard_normal((32, 3)), name="x")                       # (32, 3) float64
    w = Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="W")    # (3, 4)
    b = Tensor(rng.standard_normal(4), requires_grad=True, name="b")         # (4,)
    h = (x @ w + b).tanh()                                                   # (32, 4)
    loss = (h * h).mean()
    return loss, w, b


def test_final_gradients_equal_backward_and_grad_fields_stay_empty():
    loss, w, b = _mlp(np.random.default_rng(0))
    trace = trace_backward(loss)
    assert w.grad is None and b.grad is None
    loss.backward()
    np.testing.assert_allclose(trace.grad(w), w.grad.data, rtol=1e-12)
    np.testing.assert_allclose(trace.grad(b), b.grad.data, rtol=1e-12)


def test_graph_is_not_freed_and_tracing_twice_gives_the_same_rows():
    loss, w, _ = _mlp(np.random.default_rng(1))
    first, second = str(trace_backward(loss)), str(trace_backward(loss))
    assert first == second
    loss.backward()  # would raise if the trace had freed the saved values
    assert w.grad is not None


def test_rows_follow_the_engine_order_and_describe_local_derivatives():
    loss, _, _ = _mlp(np.random.default_rng(2))
    trace = trace_backward(loss)
    ops = [r.op for r in trace]
    assert ops == ["mul", "sum", "mul", "mul", "tanh", "add", "add", "matmul"]
    text = str(trace)
    assert [r.local for r in trace][2:] == [
        "d(tanh#4*tanh#4)/d tanh#4 = tanh#4", "d(tanh#4*tanh#4)/d tanh#4 = tanh#4",
        "d tanh(add#3)/d add#3 = 1 - tanh²(add#3)", "d(matmul#1 + b)/d matmul#1 = 1", "d(matmul#1 + b)/d b = 1",
        "d(x@W)/d W: xᵀ @ g"]
    assert trace[0].local == "d(sum#6*0.007812)/d sum#6 = 0.007812"  # mean: a sum times the constant 1/128
    bias_row = next(r for r in trace if r.parent == "b")
    assert bias_row.notes == ("summed over axis 0: (32, 4) → (4,)",)
    assert bias_row.raw_shape == (32, 4) and bias_row.contribution.shape == (4,)
    assert "summed over axis 0: (32, 4) → (4,)" in text


def test_running_total_accumulates_a_tensor_used_twice():
    x = Tensor([1.0, -2.0], requires_grad=True, name="x")
    trace = trace_backward((x * x).sum())
    to_x = [r for r in trace if r.parent == "x"]
    assert [r.local for r in to_x] == ["d(x*x)/d x = x", "d(x*x)/d x = x"]
    assert str(to_x[0].total) == "[1, -2]"
    assert str(to_x[1].total) == "[2, -4]"
    assert to_x[1].notes == ("2nd contribution, added to the total",)
    np.testing.assert_array_equal(trace.grad(x), [2.0, -4.0])


def test_small_tensors_show_values_big_ones_shape_and_norm():
    a = Tensor(np.full((10, 10), 0.5), requires_grad=True, name="a")
    s = Tensor([2.0, 3.0], requires_grad=True, name="s")
    trace = trace_backward(a.sum() + (s * s).sum())
    big = next(r for r in trace if r.parent == "a")
    assert str(big.contribution) == "(10, 10) norm=10"
    small = [r for r in trace if r.parent == "s"][-1]
    assert str(small.total) == "[4, 6]"


def test_parameter_names_label_rows_and_unnamed_tensors_get_op_labels():
    w = Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * 3.0).sum()
    trace = trace_backward(loss, params={"weight": w})
    assert trace[-1].parent == "weight"
    assert trace[0].node.startswith("sum#") and trace.label(loss) == trace[0].node


def test_freed_graph_and_bad_roots_give_clear_errors():
    loss, _, _ = _mlp(np.random.default_rng(3))
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        trace_backward(loss)
    v = Tensor([1.0, 2.0], requires_grad=True) * 2.0
    with pytest.raises(ValueError, match="pass grad="):
        trace_backward(v)
    assert trace_backward(v, grad=np.array([1.0, 1.0])).rows[0].contribution.values.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="does not require grad"):
        trace_backward(Tensor([1.0]))


def test_in_place_change_after_forward_is_reported():
    w = Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with no_grad():
        w += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        trace_backward(loss)


def test_cross_entropy_and_layer_norm_rows():
    rng = np.random.default_rng(4)
    x = Tensor(rng.standard_normal((4, 5)), requires_grad=True, name="x")
    weight = Tensor(np.ones(5), requires_grad=True, name="weight")
    loss = F.cross_entropy(F.layer_norm(x, 5, weight), np.array([0, 1, 2, 3]))
    text = str(trace_backward(loss))
    assert "(softmax(logits) - onehot(targets)) / N" in text
    assert "d y/d weight = x̂" in text


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.__name__)
def test_every_op_states_its_local_derivative(op):
    assert op.derivatives or op.derivative is not Op.derivative, (
        f"{op.__name__}: give it `derivatives` (or a `derivative` method), the text trace_backward shows")


def test_op_names_are_distinct():
    names = [op.name for op in OPS]
    assert sorted(n for n in names if names.count(n) > 1) == []


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_edge_of_every_case_has_its_local_derivative_and_the_real_gradients(case):
    xs = case.inputs()
    out = case.fn(*xs)
    trace = trace_backward(out, grad=np.ones(out.shape))
    for row in trace:
        assert row.local and "{" not in row.local and "backward rule" not in row.local, (row.op, row.local)
    expected = autograd.grad(out, xs, grad_outputs=[Tensor(np.ones(out.shape))], allow_unused=True)
    for x, e in zip(xs, expected):
        np.testing.assert_array_equal(trace.grad(x), None if e is None else e.data)


def test_the_local_derivative_calls_the_inputs_by_the_tables_names():
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor(-3.0, requires_grad=True, name="b")
    assert [r.local for r in trace_backward(a * b + a)] == [
        "d(mul#2 + a)/d mul#2 = 1", "d(mul#2 + a)/d a = 1", "d(a*b)/d a = b", "d(a*b)/d b = a"]
    w = Tensor([1.0, 2.0], requires_grad=True)
    rows = trace_backward((Tensor(np.ones((3, 2)), name="data") * w * 0.5).sum(), params={"weight": w})
    assert [r.local for r in rows][1:] == ["d(mul#1*0.5)/d mul#1 = 0.5", "d(data*weight)/d weight = data"]
    x = Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    rows = trace_backward(F.linear(x, Tensor(np.ones((4, 3)), requires_grad=True, name="W")).sum())
    assert [r.local for r in rows][1:] == ["d(x@Wᵀ)/d x: g @ W", "d(x@Wᵀ)/d W: gᵀ @ x"]


def test_pow_scalar_states_its_power():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    assert [r.local for r in trace_backward((x ** 3).sum())][-1] == "d(x**3)/d x = 3·x**2"
    assert [r.local for r in trace_backward((x ** 2).sum())][-1] == "d(x**2)/d x = 2·x"


def test_the_trace_observes_the_real_backward_pass(monkeypatch):
    seen = []
    real = autograd.run_backward

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr("engine.trace.run_backward", spy)
    loss, _, _ = _mlp(np.random.default_rng(5))
    rows = trace_backward(loss).rows
    assert len(seen) == 1 and seen[0]["observer"] is not None and seen[0]["inputs"] == [] and seen[0]["retain_graph"]
    assert len(rows) == 8


def test_the_observer_sees_each_edge_once_with_raw_and_summed_gradients():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.zeros(3), requires_grad=True)
    y = x * 2.0 + b                                                         # (2, 3)
    edges = []
    autograd.run_backward([y.sum()], [Tensor(np.array(1.0))], retain_graph=True, inputs=[],
                          observer=lambda node, i, up, raw, c, total: edges.append(
                              (node.op.name, i, raw.shape, c.shape, total.data.copy())))
    assert [(op, i) for op, i, *_ in edges] == [("sum", 0), ("add", 0), ("add", 1), ("mul", 0)]
    op, i, raw, contribution, total = edges[2]
    assert raw == (2, 3) and contribution == (3,) and total.tolist() == [2.0, 2.0, 2.0]
    assert x.grad is None and b.grad is None
