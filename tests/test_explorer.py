"""engine.viz.explore, the Python side: the steps it builds (forward order, one backward step per
edge, collapsed modules, final gradients), the self-contained page, and `stepgrad explore`."""
import html
import re
import subprocess
import sys

import numpy as np
import pytest

from engine import Tensor, manual_seed, nn, randn
from engine.trace import trace_backward
from engine.viz import DepthHint, ExploreError, explore
from engine.viz.explore import picture
from engine.viz.explore.backward import grad_value
from engine.viz.explore.values import describe
from engine.viz.labels import values_lines
import optim
from models.explore_cmd import EXAMPLES, TinyMLP, linreg_loss, xor_loss
from models.linreg import LinearRegression, make_data
from test_optim import Halving

needs_dot = pytest.mark.skipif(not picture.shutil.which("dot"), reason="Graphviz's dot program is not installed")


def _expression():
    """L = (a*b + c) * f with every tensor named."""
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor(-3.0, requires_grad=True, name="b")
    c = Tensor(10.0, requires_grad=True, name="c")
    f = Tensor(-2.0, requires_grad=True, name="f")
    e = a * b
    e.name = "e"
    d = e + c
    d.name = "d"
    L = d * f
    L.name = "L"
    return L, (a, b, c, f)


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)

    def forward(self, x):
        return x + self.inner(x).tanh()


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([_Block(), _Block()])
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _net_loss():
    manual_seed(0)
    net = _Net()
    return (net(randn(4, 3)) ** 2).mean(), net


def _linreg():
    """The seed's loss on five points at θ = 0: (loss, model)."""
    x, y = make_data(5, seed=0)
    model = LinearRegression()
    return linreg_loss(model, x, y), model


def _example(name):
    """(the loss tensor, params) of example `name` (a loss function is called once)."""
    example = EXAMPLES[name]()
    root = example.root() if callable(example.root) else example.root
    return root, example.params


def _named(params):
    return list(params.named_parameters() if hasattr(params, "named_parameters") else params.items())


def _phase(explorer, phase):
    return [s for s in explorer.steps if s["phase"] == phase]


def _shown(field):
    """The text a panel field shows for its array (values, or the summary)."""
    value = field["value"]
    return value.get("lines") or value.get("stats")


# ------------------------------------------------------------------ forward

def test_forward_lights_the_leaves_then_each_op_in_computation_order():
    L, leaves = _expression()
    ex = explore(L)
    forward = _phase(ex, "forward")
    assert forward[0]["kind"] == "leaves" and len(forward[0]["lights"]) == 4
    assert [s["title"] for s in forward[1:]] == ["e = mul(a, b)", "d = add(e, c)", "L = mul(d, f)"]
    assert [s["fields"][-1]["value"]["lines"] for s in forward[1:]] == [["-6"], ["4"], ["-8"]]
    assert [f["label"] for f in forward[1]["fields"]] == ["input a", "input b", "= e"]


def test_forward_describes_big_arrays_by_shape_and_summary():
    x = Tensor(np.arange(40, dtype=np.float32).reshape(5, 8), requires_grad=True, name="x")
    ex = explore((x * 2.0).sum(), max_values=16)
    value = _phase(ex, "forward")[1]["fields"][-1]["value"]
    assert value["shape"] == "(5, 8) float32"
    assert dict(value["stats"]) == {"mean": "39", "std": "23.09", "min": "0", "max": "78"}


def test_computation_order_follows_the_engine_counter_when_nodes_have_one(monkeypatch):
    from engine.viz.explore import forward
    from engine.viz.graph import read_graph

    L, _ = _expression()
    graph = read_graph(L)
    ops = [n for n in graph.nodes if not n.is_leaf]
    assert forward.computation_order(graph) == ops            # no counter: topological order

    class Stamped:
        def __init__(self, seq):
            self.seq = seq

    class FakeTensor:
        def __init__(self, seq):
            self._ctx = Stamped(seq)

    for n, seq in zip(ops, (3, 1, 2)):
        monkeypatch.setattr(n, "tensor", FakeTensor(seq))
    assert forward.computation_order(graph) == [ops[1], ops[2], ops[0]]


# ------------------------------------------------------------------ backward

def test_one_backward_step_per_trace_row_in_the_engines_order():
    L, _ = _expression()
    trace = trace_backward(L)
    edges = [s for s in explore(L).steps if s["kind"] == "edge"]
    assert len(edges) == len(trace.rows)
    for s, row in zip(edges, trace.rows):
        assert s["title"] == f"{row.node} ({row.op}) → {row.parent}"
        assert s["row"][3] == str(row.contribution) and s["row"][4] == str(row.total)
        assert s["bubble"] == str(row.contribution)


def test_local_derivative_is_shown_as_formula_and_number():
    L, (a, b, c, f) = _expression()
    step = next(s for s in explore(L).steps if s["title"] == "e (mul) → a")
    fields = {fl["label"]: fl for fl in step["fields"]}
    assert fields["local derivative"]["text"] == "d(a*b)/d a = b"
    assert fields["∂e/∂a"]["value"]["lines"] == ["-3"]                    # b's value
    assert fields["upstream g = ∂L/∂e"]["value"]["lines"] == ["-2"]       # f's value
    assert fields["contribution = g × local"]["value"]["lines"] == ["6"]


def test_the_local_derivative_is_written_in_the_users_names():
    loss, model = _linreg()
    formulas = {s["title"]: s["fields"][1]["text"] for s in explore(loss, params=model).steps if s["kind"] == "edge"}
    assert formulas["error*error (mul) → error"] == "d(error*error)/d error = error"
    assert formulas["theta1*x (mul) → theta1"] == "d(theta1*x)/d theta1 = x"
    assert formulas["J (mul) → sum(error*error)"] == "d(sum(error*error)*0.2)/d sum(error*error) = 0.2"  # a constant
    assert formulas["prediction (add) → theta1*x"] == "d(theta0 + theta1*x)/d (theta1*x) = 1"   # as its value


@pytest.mark.parametrize("name, names", [
    ("linreg", ["theta1*x", "prediction", "error", "error*error", "sum(error*error)", "J"]),
    ("neuron", ["x1w1", "x2w2", "x1w1 + x2w2", "n", "o"]),
    ("mlp", ["hidden(x)", "tanh(hidden(x))", "out(tanh(hidden(x)))", "error", "error*error", "sum(error*error)",
             "loss"]),
])
def test_results_are_called_by_what_made_them_in_the_users_names(name, names):
    root, params = _example(name)
    ex = explore(root, params=params)
    computed = [s["row"][0] for s in _phase(ex, "forward") if s["kind"] == "op"]
    assert computed == names


def test_a_name_too_long_or_already_taken_keeps_the_traces_label():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="a_rather_long_name")
    b = Tensor(np.array([3.0, 4.0]), requires_grad=True, name="another_long_name")
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True, name="x")
    total = ((a * b).tanh() + (x * x).tanh() + (x * x).tanh()).sum()   # x*x twice: the second is not x*x
    computed = [s["row"][0] for s in _phase(explore(total), "forward") if s["kind"] == "op"]
    assert computed == ["mul#2", "tanh(mul#2)", "x*x", "tanh(x*x)", "tanh(mul#2) + tanh(x*x)", "mul#8",
                        "tanh(mul#8)", "add#10", "sum(add#10)"]


def test_a_second_contribution_says_it_is_added_and_a_broadcast_says_it_is_summed_back():
    loss, model = _linreg()
    steps = explore(loss, params=model).steps
    added = [s for s in steps if any("added to the total" in n for n in s["notes"])]
    assert [s["title"] for s in added] == ["error*error (mul) → error"]
    summed = [s for s in steps if any("summed back to its shape ()" in n for n in s["notes"])]
    assert [s["title"] for s in summed] == ["prediction (add) → theta0", "theta1*x (mul) → theta1"]
    assert all("summed from (5,)" in s["fields"][3]["label"] for s in summed)


@pytest.mark.parametrize("name", ["linreg", "neuron", "mlp"])
def test_the_last_backward_step_shows_the_gradients_backward_stores(name):
    root, params = _example(name)
    ex = explore(root, params=params)
    last = _phase(ex, "backward")[-1]
    assert last["kind"] == "grads"
    root.backward()
    shown = {f["label"]: f for f in last["fields"]}
    for name, p in _named(params):
        assert _shown(shown[f"{name}.grad"]) == values_lines(p.grad.data), name


def test_gradients_so_far_are_recorded_on_the_nodes_step_by_step():
    L, (a, b, c, f) = _expression()
    ex = explore(L)
    node_of = {info["label"]: key for key, info in ex._pass_info[0]["nodes"].items()}
    history = [(k, value["lines"]) for k, s in enumerate(ex.steps) for key, value, _ in s["grads"]
               if key == node_of["a"]]
    L.backward()
    assert history[-1][1] == values_lines(a.grad.data)
    assert all(ex.steps[k]["phase"] == "backward" for k, _ in history)


def test_a_collapsed_module_is_one_step_with_its_op_count_and_its_inputs_gradients():
    loss, net = _net_loss()
    ex = explore(loss, params=net, depth=2)
    boxes = [s for s in ex.steps if s["kind"] == "box" and s["phase"] == "backward"]
    assert [s["title"] for s in boxes] == ["blocks.1 (_Block): back through 3 ops",
                                           "blocks.0 (_Block): back through 3 ops"]
    labels = [f["label"] for f in boxes[0]["fields"]]
    assert "total at blocks.1.inner.weight" in labels and "total at blocks.1.inner.bias" in labels
    assert "total at blocks.0(…)" in labels                     # the other module's output, named by it
    forward_boxes = [s for s in ex.steps if s["kind"] == "box" and s["phase"] == "forward"]
    assert [s["row"][1] for s in forward_boxes] == ["3 ops", "3 ops"]
    loss.backward()
    last = {f["label"]: f for f in ex.steps[-1]["fields"]}
    for name, p in net.named_parameters():
        assert _shown(last[f"{name}.grad"]) == grad_value(p.grad.data, 16)["lines" if p.size <= 16 else "stats"]


def test_the_page_advises_on_depth_as_the_caller_spells_it():
    def advice(ex):
        notes = [n for s in ex.steps if s["kind"] == "box" for n in s["notes"]]
        return ex.notes + notes

    loss, net = _net_loss()
    python = advice(explore(loss, params=net, depth=2))
    assert any("depth=None shows every op" in n for n in python)
    assert any("depth=None shows every edge" in n for n in python)
    assert any("a bigger depth= shows them" in n for n in python)
    ex = explore(loss, params=net, depth=2, depth_hint=DepthHint("--depth all", "--depth"))
    cli = advice(ex)
    assert any("collapsed at depth=2" in n and "--depth all shows every op" in n for n in cli)
    assert any("--depth all shows every edge" in n for n in cli)
    assert any("a bigger --depth shows them" in n for n in cli)
    assert "depth=None" not in ex.html() and "depth= " not in ex.html()  # nor in the picture's caption


def test_explore_reads_the_graph_only():
    L, leaves = _expression()
    explore(L)
    assert all(t.grad is None for t in leaves)
    L.backward()                                                   # the graph was not freed
    assert leaves[0].grad.item() == 6.0


def _case_output(case):
    rng = np.random.default_rng(0)
    return case.fn(*[Tensor(a.make(rng, np.float64), requires_grad=True) for a in case.args])


def _elementwise_cases():
    """The op cases of elementwise ops whose last op is that op, without broadcasting."""
    from op_cases import CASES

    found = []
    for case in CASES:
        if case.op.elementwise:
            out = _case_output(case)
            if out._ctx.op is case.op and all(p.shape == out.shape for p in out._ctx.parents):
                found.append(case)
    return found


@pytest.mark.parametrize("case", _elementwise_cases(), ids=lambda c: c.id)
def test_an_elementwise_ops_local_derivative_is_the_diagonal_of_its_jacobian(case):
    """What `Op.elementwise` promises the explorer: backward applied to ones is d out_i / d in_i,
    and out_i does not depend on any other element."""
    from engine.ops.base import Node
    from engine.viz.explore.backward import local_value

    out = _case_output(case)
    node = out._ctx
    for i, parent in enumerate(node.parents):
        if not parent.requires_grad:
            continue
        row = type("Row", (), {"output_tensor": out, "index": i})()
        shown = np.array([float(v) for line in local_value(row, 10**6)["lines"]
                          for v in line.replace("[", "").replace("]", "").split(",") if v.strip()])
        arrays = [p.data.copy() for p in node.parents]
        jacobian = np.zeros((out.size, parent.size))
        for j in range(parent.size):
            moved = []
            for h in (1e-6, -1e-6):
                arrays[i].reshape(-1)[j] += h
                moved.append(np.asarray(case.op.forward(Node(case.op, node.parents, node.attrs), *arrays,
                                                        **node.attrs)).reshape(-1))
                arrays[i].reshape(-1)[j] -= h
            jacobian[:, j] = (moved[0] - moved[1]) / 2e-6
        assert np.allclose(np.diag(jacobian), shown, rtol=2e-3, atol=2e-3), case.id
        assert np.allclose(jacobian - np.diag(np.diag(jacobian)), 0, atol=1e-6), case.id


# ------------------------------------------------------------------ the update phase

OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1),
}


def _trained_once(make_opt):
    """A TinyMLP and its optimizer after one real step (so momentum and moments are not zero)."""
    manual_seed(0)
    model = TinyMLP()
    opt = make_opt(model.parameters())
    opt.zero_grad()
    xor_loss(model).backward()
    opt.step()
    return model, opt


def _snapshot(model, opt):
    arrays = {n: p.data.copy() for n, p in model.named_parameters()}
    grads = {n: p.grad for n, p in model.named_parameters()}
    return arrays, grads, opt.state_dict()


def _same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _same_state(a[k], b[k])
        elif isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_the_update_phase_shows_what_opt_step_does_and_changes_nothing(kind):
    model, opt = _trained_once(OPTIMIZERS[kind])
    loss = xor_loss(model)
    arrays, grads, state = _snapshot(model, opt)
    ex = explore(loss, params=model, optimizer=opt)
    for n, p in model.named_parameters():                      # the user's model and optimizer are untouched
        assert np.array_equal(p.data, arrays[n]) and p.grad is grads[n], n
    _same_state({"s": opt.state_dict()}, {"s": state})
    opt.zero_grad()
    loss.backward()
    opt.step()
    last = ex.steps[-1]
    assert last["phase"] == "update" and last["kind"] == "updated"
    shown = {f["label"]: f for f in last["fields"]}
    for n, p in model.named_parameters():
        assert _shown(shown[n]) == describe(p.data, 16)["lines"], n
    per_param = [s for s in ex.steps if s["kind"] == "param"]
    assert [s["row"][0] for s in per_param] == [n for n, _ in model.named_parameters()]


@pytest.mark.parametrize("kind", list(OPTIMIZERS))
def test_the_shadow_optimizer_steps_exactly_like_the_real_one_twice(kind):
    from engine.viz.explore.update import ShadowOptimizer

    model, opt = _trained_once(OPTIMIZERS[kind])
    shadow = ShadowOptimizer(opt, ExploreError)
    for _ in range(2):
        opt.zero_grad()
        xor_loss(model).backward()
        grads = {id(p): p.grad.data.copy() for p in model.parameters()}
        shadow.step(grads)
        opt.step()
        for p, c in zip(shadow.originals, shadow.clones):
            assert np.array_equal(p.data, c.data)


def test_iterations_run_the_training_loop_again_on_the_updated_parameters():
    x, y = make_data(5, seed=0)
    model = LinearRegression()
    opt = optim.SGD(model.parameters(), lr=0.1)
    ex = explore(lambda: linreg_loss(model, x, y), params=model, optimizer=opt, iterations=3)
    assert model.theta0.item() == 0.0 and model.theta1.item() == 0.0 and not opt.state
    losses = [s["fields"][0]["text"] for s in ex.steps if s["phase"] == "check"]
    real = []
    for _ in range(3):
        loss = linreg_loss(model, x, y)
        real.append(f"{loss.item():.4g}")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses == real
    assert [s["pass"] for s in ex.steps if s["kind"] == "leaves"] == [0, 1, 2]
    assert [s["flow"] for s in ex.steps if s["kind"] == "leaves"] == ["init", "loss", "loss"]
    last = {f["label"]: f for f in ex.steps[-1]["fields"]}
    assert _shown(last["theta0"]) == [f"{model.theta0.item():.4g}"]
    assert ex._data()["flow"] is True


def test_a_converged_loop_stops_at_the_check():
    x, y = make_data(5, seed=0)
    model = LinearRegression()
    opt = optim.SGD(model.parameters(), lr=1e-6)
    ex = explore(lambda: linreg_loss(model, x, y), params=model, optimizer=opt, iterations=5, tol=1e-3)
    checks = [s for s in ex.steps if s["phase"] == "check"]
    assert [s["row"][2] for s in checks] == ["no", "yes"]
    assert ex.steps[-1] is not None and ex.steps[-1]["phase"] == "check"
    assert len(ex._passes) == 2


def test_the_update_phase_shows_the_rule_in_symbols_and_in_numbers():
    loss, model = _linreg()
    ex = explore(loss, params=model, optimizer=optim.SGD(model.parameters(), lr=0.1))
    theta0 = next(s for s in ex.steps if s["kind"] == "param" and s["row"][0] == "theta0")
    shown = {f["label"]: f for f in theta0["fields"]}
    assert shown["the rule"]["text"] == "θ ← θ − α·g"
    assert _shown(shown["α = lr"]) == ["0.1"] and _shown(shown["g = ∂J/∂theta0"]) == ["-4.51"]
    assert _shown(shown["α·g, the step"]) == ["-0.451"] and _shown(shown["new theta0"]) == ["0.451"]


def test_an_optimizer_that_does_not_describe_its_rule_still_shows_its_step():
    loss, model = _linreg()
    ex = explore(loss, params=model, optimizer=Halving(model.parameters()))
    theta0 = next(s for s in ex.steps if s["kind"] == "param" and s["row"][0] == "theta0")
    shown = {f["label"]: f for f in theta0["fields"]}
    assert shown["the rule"]["text"] == "not described by Halving: the numbers are its step on a copy"
    assert _shown(shown["new theta0"]) == ["2.255"]                      # 0 - (-4.51) / 2


def test_the_update_phase_refuses_what_it_cannot_show():
    loss, model = _linreg()
    with pytest.raises(ExploreError, match="LBFGS needs a closure"):
        explore(loss, params=model, optimizer=optim.LBFGS(model.parameters()))
    with pytest.raises(ExploreError, match="iterations > 1 needs an optimizer"):
        explore(loss, params=model, optimizer=optim.SGD(model.parameters(), lr=0.1), iterations=2)
    with pytest.raises(ExploreError, match="iterations must be a whole number"):
        explore(loss, iterations=0)
    with pytest.raises(ExploreError, match="must be an optim.Optimizer"):
        explore(loss, optimizer="sgd")


# ------------------------------------------------------------------ big graphs

def test_a_graph_too_large_is_collapsed_and_the_page_says_so():
    loss, net = _net_loss()
    ex = explore(loss, params=net, max_nodes=12)
    assert any("collapsed at depth=" in n and "max_nodes=12" in n for n in ex.notes)
    assert len(ex._pass_info[0]["nodes"]) <= 12


def test_a_graph_too_large_without_modules_is_not_drawn_but_still_stepped_through():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True, name="x")
    y = x
    for _ in range(30):
        y = (y * 1.01).tanh()
    ex = explore(y.sum(), max_nodes=20)
    assert any("is not drawn" in n and "max_nodes=20" in n for n in ex.notes)
    assert ex._passes[0].svg is None and not ex._pass_info[0]["drawn"]
    assert len([s for s in ex.steps if s["kind"] == "edge"]) == 61


# ------------------------------------------------------------------ the page

@needs_dot
def test_every_node_and_arrow_a_step_names_is_in_the_picture():
    for name in ("linreg", "mlp"):
        root, params = _example(name)
        ex = explore(root, params=params)
        svg = ex._passes[0].svg
        nodes = set(re.findall(r'data-node="([^"]+)"', svg))
        edges = {html.unescape(e) for e in re.findall(r'data-edge="([^"]+)"', svg)}
        for s in ex.steps:
            assert s["item"] is None or s["item"] in nodes
            assert set(s["edges"]) <= edges, (s["title"], s["edges"])


@needs_dot
def test_the_picture_leaves_its_caption_to_the_page_which_has_one_per_phase():
    captions = {}
    for name in ("mlp", "neuron"):
        root, params = _example(name)
        ex = explore(root, params=params)
        svg = ex._passes[0].svg
        assert "forward view" not in svg and "data flowing forward" not in svg and ">parameter</text>" in svg
        captions[name] = ex._data()["captions"]
    assert set(captions["mlp"]) == {"forward", "check", "backward", "update"}
    assert "arrows: data flowing forward" in captions["mlp"]["forward"][1]
    assert "the gradient of loss flows back" in captions["mlp"]["backward"][1]
    assert "a, b: argument order" in captions["mlp"]["backward"][1]               # linear's inputs are in order
    assert "a, b: argument order" not in captions["neuron"]["backward"][1]        # mul and add need no order
    assert all("dashed: no gradient flows there" in text for _, text in captions["neuron"].values())


@needs_dot
def test_the_page_is_self_contained():
    loss, model = _linreg()
    page = explore(loss, params=model).html()
    assert "<script src" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert "<svg" in page and '"steps":' in page and "function explorer(root)" in page


@needs_dot
def test_two_notebook_renderings_have_their_own_ids_and_the_svg_none():
    loss, model = _example("mlp")
    ex = explore(loss, params=model)
    first, second = ex._repr_html_(), ex._repr_html_()
    ids = [re.findall(r'\sid="([^"]+)"', html) for html in (first, second)]
    assert len(ids[0]) == 1 and len(ids[1]) == 1 and ids[0] != ids[1]
    assert f'getElementById("{ids[0][0]}")' in first
    assert "<!DOCTYPE" not in first


@needs_dot
def test_names_cannot_break_out_of_the_page(tmp_path):
    evil = "</script><b>&'\""
    w = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    page = explore((w * 2.0).sum(), params={evil: w}).html()
    assert page.count("</script>") == 2                      # the data block and the script
    assert "<b>&" not in page


def test_without_dot_the_page_says_the_graph_is_not_drawn(monkeypatch):
    monkeypatch.setattr(picture.shutil, "which", lambda name: None)
    L, _ = _expression()
    ex = explore(L)
    assert ex._passes[0].svg is None
    assert any("Graphviz's `dot` program is not installed" in n for n in ex.notes)
    assert "data-node=" not in ex.html() and "The graph is not drawn here" in ex.html()


def test_save_writes_the_page_atomically(tmp_path):
    L, _ = _expression()
    path = explore(L).save(tmp_path / "page.html")
    assert path == tmp_path / "page.html"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(FileNotFoundError):
        explore(L).save(tmp_path / "missing" / "page.html")
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


# ------------------------------------------------------------------ bad input

def test_bad_input_is_one_clear_error():
    with pytest.raises(ExploreError, match="expected the output Tensor"):
        explore(np.ones(3))
    with pytest.raises(ExploreError, match="does not require grad"):
        explore(Tensor([1.0, 2.0]).sum())
    L, _ = _expression()
    L.backward()
    with pytest.raises(ExploreError, match="freed by a backward"):
        explore(L)
    L, _ = _expression()
    with pytest.raises(ValueError, match="depth must be"):
        explore(L, depth=0)


# ------------------------------------------------------------------ notebooks: Tensor and trace as HTML

def test_a_tensor_shows_in_a_notebook_as_a_small_card():
    x = Tensor([[1.0, -2.5], [3.0, 4.0]], requires_grad=True, name="<w>")
    card = x._repr_html_()
    assert "Tensor &lt;w&gt;" in card and "<w>" not in card
    assert "shape (2, 2) · float32 · requires_grad" in card and "[[1, -2.5],\n [3, 4]]" in card
    y = (x * 2.0).sum()
    assert "grad_fn=sum" in y._repr_html_()
    big = Tensor(np.arange(100, dtype=np.float32))._repr_html_()
    assert "mean 49.5  std 28.87  min 0  max 99" in big and "98" not in big


def test_a_trace_shows_in_a_notebook_as_its_table():
    L, _ = _expression()
    trace = trace_backward(L)
    table = trace._repr_html_()
    assert table.count("<tr>") == len(trace.rows) + 1                        # the header and one row per edge
    assert "backward from L, seeded with d L/d L = 1" in table
    for row in trace.rows:
        assert f">{row.node} ({row.op})</td>" in table and f">{row.local}</td>" in table
    assert str(trace).splitlines()[1].split()[:3] == ["step", "node", "->"]  # the text table is unchanged


# ------------------------------------------------------------------ the command line

def _stepgrad(*args, cwd):
    return subprocess.run([sys.executable, "-m", "models", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_without_flags_writes_the_linreg_page_and_says_where(tmp_path):
    run = _stepgrad("explore", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    page = tmp_path / "backprop-linreg.html"
    assert page.exists()
    assert run.stdout.startswith("wrote backprop-linreg.html") and page.resolve().as_uri() in run.stdout
    assert "linear regression" in page.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("example", list(EXAMPLES))
def test_cli_writes_each_example(example, tmp_path):
    out = tmp_path / f"{example}.html"
    run = _stepgrad("explore", "--example", example, "-o", str(out), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert out.read_text(encoding="utf-8").count('class="sgx"') == 1


def test_cli_bad_input_is_one_line(tmp_path):
    run = _stepgrad("explore", "--example", "resnet", cwd=tmp_path)
    assert run.returncode == 2 and "invalid choice: 'resnet'" in run.stderr
    run = _stepgrad("explore", "-o", str(tmp_path / "no" / "such" / "dir.html"), cwd=tmp_path)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("stepgrad: error: No such file or directory")


def test_cli_depth_collapses_as_stepgrad_graph_does_and_its_advice_names_the_flag(tmp_path):
    run = _stepgrad("explore", "--example", "gpt", "--depth", "3", "-o", "gpt.html", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "gpt.html").read_text(encoding="utf-8")
    assert "Modules are collapsed at depth=3: each box is one step (90 nodes in full; --depth all shows every op)." \
        in page
    assert "--depth all shows every edge" in page and "depth=None" not in page
    assert _stepgrad("explore", "--depth", "all", "-o", "lin.html", cwd=tmp_path).returncode == 0
    assert "collapsed" not in (tmp_path / "lin.html").read_text(encoding="utf-8")
    bad = _stepgrad("explore", "--depth", "0", cwd=tmp_path)
    assert bad.returncode == 2 and "argument --depth: '0' is not 'auto', 'all' or a positive integer" in bad.stderr


def test_cli_max_nodes_bounds_the_picture_and_its_advice_names_the_flag(tmp_path):
    run = _stepgrad("explore", "--example", "gpt", "--depth", "all", "--max-nodes", "40", "-o", "gpt.html",
                    cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "gpt.html").read_text(encoding="utf-8")
    assert re.search(r"more than --max-nodes 40: modules are collapsed at depth=\d to fit \((\d+) nodes; raise "
                     r"--max-nodes to see more\)", page)
    assert "max_nodes" not in page
    assert explore(_example("gpt")[0], max_nodes=40).notes[0].count("max_nodes") == 2  # Python's spelling


def test_gpt_step_at_module_depth_shows_its_modules_as_steps_and_every_gradient():
    from models.explore_cmd import GPT_DEPTH

    loss, model = _example("gpt")
    ex = explore(loss, params=model, depth=GPT_DEPTH)
    assert any(f"collapsed at depth={GPT_DEPTH}" in n for n in ex.notes)
    backward_boxes = [s for s in ex.steps if s["kind"] == "box" and s["phase"] == "backward"]
    assert len(backward_boxes) == 4 * 4          # ln_1, attn, ln_2, mlp in each of the 4 blocks
    loss.backward()
    last = {f["label"]: f["value"] for f in ex.steps[-1]["fields"]}
    for name, p in model.named_parameters():
        assert last[f"{name}.grad"] == grad_value(p.grad.data, 16), name
