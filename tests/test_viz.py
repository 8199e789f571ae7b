"""engine.viz: DOT text of computation graphs (labels, escaping, clusters, views, checks) and real renders."""
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from engine import Tensor, manual_seed, name_scope, nn, randn
from engine.autograd import toposort
from engine.ops import Op
from engine.viz import DepthHint, GraphTooLarge, draw_graph, save_graph
from engine.viz.labels import attrs_text
from engine.viz.style import CHECK_LEVELS, REDUCE_COLOR, ROLE_COLORS


def _layer(seed=0):
    """tanh(x @ W + b).sum() with x (4, 3), W (3, 2), b (2,): a small graph with a broadcast."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32), name="x")
    w = Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    loss = (x @ w + b).tanh().sum()
    return loss, {"W": w, "b": b}


class _Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def forward(self, x):
        return self.proj(x).tanh()


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = _Attn()
        self.mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([_Block(), _Block()])
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def _net_loss():
    manual_seed(0)
    net = _Net()
    loss = (net(randn(5, 4)) ** 2).mean()
    return net, loss


def _node_labels(source):
    """{node id: label text} of the DOT source."""
    return dict(re.findall(r"^\t+(\w+) \[label=<(.*)>\]$", source, flags=re.M))


def _svg_text(svg_bytes):
    root = ET.fromstring(svg_bytes)
    return " ".join(t.text for t in root.iter() if t.tag.endswith("text") and t.text)


def test_op_names_shapes_and_dtypes():
    loss, params = _layer()
    src = draw_graph(loss, params=params).source
    for op in ("<B>matmul</B>", "<B>add</B>", "<B>tanh</B>", "<B>sum</B>"):
        assert op in src
    assert "(4, 2) float32" in src and "(3, 2) float32" in src and "scalar float32" in src
    assert "axis=None, keepdims=False" in src


def test_small_tensors_show_values_and_grads_big_ones_do_not():
    loss, params = _layer()
    loss.backward()
    labels = _node_labels(draw_graph(loss, params=params, max_values=6).source)
    w_label = next(v for v in labels.values() if "<B>W</B>" in v)
    assert "<I>data</I>" in w_label and "<I>grad</I>" in w_label
    w = params["W"]
    assert f"{w.data[0, 0]:.4g}" in w_label and f"{w.grad.data[0, 0]:.4g}" in w_label
    x_label = next(v for v in labels.values() if "<B>x</B>" in v)  # 12 elements > 6
    assert "<I>data</I>" not in x_label


def test_roles_are_styled_apart():
    loss, params = _layer()
    labels = _node_labels(draw_graph(loss, params=params).source)
    by_name = {name: next(v for v in labels.values() if f"<B>{name}</B>" in v) for name in ("W", "x", "tanh")}
    assert ROLE_COLORS["param"] in by_name["W"]
    assert ROLE_COLORS["data"] in by_name["x"]
    assert ROLE_COLORS["op"] in by_name["tanh"]
    output = [v for v in labels.values() if ROLE_COLORS["output"] in v]
    assert len(output) == 1 and "<B>sum</B>" in output[0] and 'BORDER="2"' in output[0]
    g = Tensor([1.0, 2.0], requires_grad=True, name="g")
    labels = _node_labels(draw_graph((g * 2.0).sum()).source)
    assert ROLE_COLORS["input"] in next(v for v in labels.values() if "<B>g</B>" in v)
    assert any("mul</B>(·, 2)" in v for v in labels.values())  # the scalar constant is written into its op


def test_module_params_label_leaves_and_clusters_are_nested():
    net, loss = _net_loss()
    src = draw_graph(loss, params=net, depth=None).source
    assert "<B>blocks.0.attn.proj.weight</B>" in src and "<B>head.bias</B>" in src
    clusters = re.findall(r"subgraph (cluster_\d+) \{\n\t+[^\n]*label=<<B>([^<]+)</B>(?:&#160;<I>(\w+)</I>)?>", src)
    names = {name: cls for _, name, cls in clusters}
    assert names["blocks"] == "ModuleList" and names["blocks.0"] == "_Block" and names["blocks.0.attn"] == "_Attn"
    assert names["blocks.1.mlp.0"] == "Linear"
    # blocks.0.attn sits inside blocks.0, which sits inside blocks
    start = src.index("label=<<B>blocks</B>")
    assert start < src.index("label=<<B>blocks.0</B>") < src.index("label=<<B>blocks.0.attn</B>")


def test_depth_collapses_modules_into_boxes():
    net, loss = _net_loss()
    src = draw_graph(loss, params=net, depth=1).source
    labels = _node_labels(src)
    boxes = [v for v in labels.values() if "collapsed" not in v and "ModuleList" in v]
    assert len(boxes) == 1
    box = boxes[0]
    assert "<B>blocks</B>" in box and "14 ops" in box and "in: (5, 4)" in box and "out: (5, 4)" in box
    assert "12 parameters, 192 numbers" in box  # per block: 4*4+4 + 4*8+8 + 8*4+4
    assert "<B>relu</B>" not in src and "<B>tanh</B>" not in src
    assert "collapsed at depth=1" in src
    deeper = draw_graph(loss, params=net, depth=2).source
    assert "<B>blocks.0</B>&#160;<I>_Block</I>" in deeper and "<B>blocks.1</B>&#160;<I>_Block</I>" in deeper


def test_the_caption_advises_on_depth_as_the_caller_spells_it():
    net, loss = _net_loss()
    python = draw_graph(loss, params=net, depth=1).source
    assert "collapsed at depth=1 " in python and "depth=None draws everything, a bigger depth= shows more" in python
    cli = draw_graph(loss, params=net, depth=1, depth_hint=DepthHint("--depth all", "--depth")).source
    assert "collapsed at depth=1 " in cli and "--depth all draws everything, a bigger --depth shows more" in cli
    assert "depth=None" not in cli and "depth= " not in cli


def test_node_limit_message_suggests_depth():
    net, loss = _net_loss()
    with pytest.raises(GraphTooLarge, match=r"more than max_nodes=10: collapse modules into boxes with depth= "
                                            r"\(depth=1: \d+ nodes, depth=2: \d+ nodes"):
        draw_graph(loss, params=net, depth=None, max_nodes=10)
    x = Tensor(np.ones(3), requires_grad=True)
    for _ in range(12):
        x = x * 1.5
    with pytest.raises(GraphTooLarge, match="raise max_nodes"):
        draw_graph(x.sum(), max_nodes=5)


def test_auto_depth_collapses_only_big_graphs():
    loss, params = _layer()
    assert "collapsed" not in draw_graph(loss, params=params).source
    net, loss = _net_loss()
    src = draw_graph(loss, params=net, max_nodes=20).source
    assert "automatically collapsed at depth=" in src
    assert len(_node_labels(src)) <= 20


def test_node_limit_error_carries_the_count_at_each_depth():
    net, loss = _net_loss()
    with pytest.raises(GraphTooLarge) as err:
        draw_graph(loss, params=net, depth=None, max_nodes=10)
    assert err.value.max_nodes == 10 and err.value.count == len(_node_labels(draw_graph(loss, depth=None).source))
    assert sorted(err.value.depths) == [1, 2, 3, 4] and all(n > 0 for n in err.value.depths.values())


class _Scored(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 2)

    def forward(self, x, y):
        with name_scope("mse"):
            d = self.proj(x) - y
            return (d * d).mean()


def test_name_scope_frames_its_ops_under_its_title_nested_in_modules():
    x = Tensor(np.ones((3, 2), dtype=np.float32), name="x")
    w = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    with name_scope("score"):
        loss = (x * w).sum()
    assert loss._ctx.scope == "score" and "<B>score</B>" in draw_graph(loss, params={"w": w}).source
    holder = nn.Sequential(_Scored())
    out = holder[0](Tensor(np.ones((5, 4), dtype=np.float32)), Tensor(np.zeros((5, 2), dtype=np.float32)))
    assert out._ctx.scope == "0.mse"
    scopes = {t._ctx.op.name: t._ctx.scope for t in toposort([out]) if t._ctx is not None}
    assert scopes["sub"] == "0.mse" and scopes["linear"] == "0.proj"  # a module called inside keeps its own name
    with pytest.raises(ValueError, match="one word without dots"):
        with name_scope("a.b"):
            pass


def test_long_op_arguments_wrap_instead_of_being_cut():
    attrs = {"targets": np.zeros(768, dtype=np.int64), "reduction": "mean", "ignore_index": -100,
             "label_smoothing": 0.0, "a_very_long_argument_name_that_fills_a_whole_line": "x" * 60}
    lines = attrs_text(attrs).splitlines()
    assert len(lines) >= 3 and "…" not in "".join(lines)
    assert all(len(line) <= 44 for line in lines)
    assert " ".join(lines).replace("  ", " ").startswith("targets=array(768,), reduction='mean', ignore_index=-100,")
    assert "".join(lines).count("x") >= 60  # the long value is broken across lines, all of it kept
    t = Tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    loss = t.sum(axis=(0, 1), keepdims=True).mean()
    assert "…" not in draw_graph(loss).source


def test_same_graph_same_dot_text():
    sources = []
    for _ in range(2):  # two separately built, equal graphs
        loss, params = _layer(seed=3)
        sources.append(draw_graph(loss, params=params, view="backward").source)
    assert sources[0] == sources[1]
    net, loss = _net_loss()
    a = draw_graph(loss, params=net, depth=2).source
    net, loss = _net_loss()
    assert a == draw_graph(loss, params=net, depth=2).source
    ops = [k for k in _node_labels(sources[0]) if k.startswith("n")]
    assert ops == [f"n{i}" for i in range(len(ops))]  # numbered in traversal order, never by id()


def test_backward_view_shows_gradient_flow_and_broadcast_reduction():
    loss, params = _layer()
    src = draw_graph(loss, params=params, view="backward").source
    assert "dir=back" in src
    assert "sum to (2,)" in src and "over axis 0 of (4, 2)" in src and REDUCE_COLOR in src
    b_key = next(k for k, v in _node_labels(src).items() if "<B>b</B>" in v)
    step = re.search(rf"^\t({b_key}) -> (s\d+) \[.*label=\"\[", src, flags=re.M)
    assert step, "the bias edge goes through a 'sum to' step labelled with the summed gradient"
    assert re.search(rf"^\t{step.group(2)} -> n\d+ \[.*label=\"\(4, 2\)\"", src, flags=re.M)
    assert params["W"].grad is None  # the view computes gradients without storing them


def test_backward_view_values_match_backward():
    loss, params = _layer()
    src = draw_graph(loss, params=params, view="backward").source
    loss.backward()
    b_label = next(v for v in _node_labels(src).values() if "<B>b</B>" in v)
    assert all(f"{g:.4g}" in b_label for g in params["b"].grad.data)


def test_backward_view_needs_a_live_graph():
    loss, params = _layer()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        draw_graph(loss, params=params, view="backward")
    assert "<B>tanh</B>" in draw_graph(loss, params=params).source  # the forward view still works


class _BadSquare(Op):
    """x * x with a wrong backward (forgets the factor 2): what the check must catch."""
    name = "bad_square"

    def forward(ctx, x):
        return x * x

    def backward(ctx, g, out):
        return g * ctx.parents[0]


def test_check_colours_each_leaf_by_relative_error():
    good = Tensor([0.5, -1.0, 2.0], requires_grad=True, name="good")
    bad = Tensor([0.5, -1.0, 2.0], requires_grad=True, name="bad")
    loss = (good * good).sum() + _BadSquare.apply(bad).sum()
    labels = _node_labels(draw_graph(loss, check=True).source)
    good_label = next(v for v in labels.values() if "<B>good</B>" in v)
    bad_label = next(v for v in labels.values() if "<B>bad</B>" in v)
    ok_color, wrong_color = CHECK_LEVELS[0][1], CHECK_LEVELS[-1][1]
    assert f'BGCOLOR="{ok_color}"' in good_label and "grad check: ok" in good_label
    assert f'BGCOLOR="{wrong_color}"' in bad_label and "grad check: wrong" in bad_label
    assert "rel. error 5.0e-01" in bad_label  # the backward claims x where 2x is true, at every element
    assert good.grad is None and bad.grad is None


def test_check_in_collapsed_box_reports_the_worst_leaf():
    net, loss = _net_loss()
    labels = _node_labels(draw_graph(loss, params=net, depth=1, check=True).source)
    box = next(v for v in labels.values() if "<B>blocks</B>" in v)
    assert "grad check worst: blocks." in box and f'BGCOLOR="{CHECK_LEVELS[0][1]}"' in box


NASTY = 'we"ird {x} <b>&amp; \\ back\\slash\nline2 \'quote\' ]]> \t'


def test_any_name_is_escaped_and_renders(tmp_path):
    w = Tensor([1.0, 2.0], requires_grad=True)
    t = Tensor([3.0, 4.0], name="} <> {also & weird\\")
    dot = draw_graph((w * t).sum(), params={NASTY: w})
    svg = dot.pipe(format="svg")
    text = _svg_text(svg)
    assert 'we"ird {x} <b>&amp; \\ back\\slash' in text and "line2 'quote' ]]> \\x09" in text
    assert "} <> {also & weird\\" in text
    path = save_graph(dot, tmp_path / "nasty.png")
    assert path.endswith(".png") and open(path, "rb").read(4) == b"\x89PNG"


@pytest.mark.parametrize("suffix", ["svg", "png", "dot"])
def test_a_lone_surrogate_in_a_name_is_escaped_not_an_encoding_error(tmp_path, suffix):
    x = Tensor([1.0, 2.0], requires_grad=True, name="x\ud800")  # UTF-8 cannot hold it
    path = save_graph(draw_graph((x * 2).sum()), tmp_path / f"g.{suffix}")
    data = open(path, "rb").read()
    assert data.startswith({"svg": b"<", "png": b"\x89PNG", "dot": b"digraph"}[suffix])
    if suffix != "png":
        assert b"x\\ud800" in data


def test_save_graph_formats_from_suffix(tmp_path):
    dot = draw_graph(_layer()[0])
    svg = save_graph(dot, tmp_path / "g.svg")
    assert b"<svg" in open(svg, "rb").read()
    text = save_graph(dot, tmp_path / "g.dot")
    assert open(text).read() == dot.source
    forced = save_graph(dot, tmp_path / "picture", format="svg")
    assert forced.endswith("picture") and b"<svg" in open(forced, "rb").read()


def test_without_dot_program_writes_dot_and_one_line_hint(tmp_path, monkeypatch, capsys):
    import engine.viz.render as render
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    dot = draw_graph(_layer()[0])
    path = save_graph(dot, tmp_path / "graph.svg")
    assert path == str(tmp_path / "graph.dot") and open(path).read() == dot.source
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install graphviz" in err and "brew install graphviz" in err
    assert "Traceback" not in err and not (tmp_path / "graph.svg").exists()


def test_render_one_liner_from_a_script(tmp_path):
    net, loss = _net_loss()
    out = draw_graph(loss, params=net).render(str(tmp_path / "graph"), format="svg")
    assert out.endswith("graph.svg") and b"blocks.0.attn" in open(out, "rb").read()


def test_whole_gpt_step_renders_readably_at_default_settings():
    from models.gpt import GPT, GPTConfig
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65))
    idx = np.random.default_rng(0).integers(0, 65, (12, 64))
    _, loss = model(idx, idx)
    dot = draw_graph(loss, params=model)
    labels = _node_labels(dot.source)
    assert len(labels) <= 60 and "automatically collapsed" in dot.source
    for i in range(4):
        assert f"<B>transformer.h.{i}.attn</B>&#160;<I>CausalSelfAttention</I>" in dot.source
    text = _svg_text(dot.pipe(format="svg"))
    assert "cross_entropy" in text and "transformer.h.3.mlp" in text


def test_engine_does_not_import_the_renderer():
    code = "import sys, engine, engine.trace; print('graphviz' in sys.modules, 'engine.viz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_bad_arguments():
    loss, _ = _layer()
    with pytest.raises(ValueError, match="view must be"):
        draw_graph(loss, view="sideways")
    with pytest.raises(ValueError, match="depth must be"):
        draw_graph(loss, depth=0)
    with pytest.raises(ValueError, match="does not require grad"):
        draw_graph(Tensor([1.0, 2.0]) * 2.0, view="backward")


@pytest.mark.parametrize("view", ["forward", "backward"])
def test_no_svg_text_run_has_a_space_a_browser_would_drop(view, tmp_path):
    # Graphviz writes each font run as its own <text>; a browser drops a run's leading and trailing
    # spaces and collapses double ones ("<B>forward view</B> of X" read "forward viewof X")
    net, loss = _net_loss()
    path = save_graph(draw_graph(loss, params=net, view=view, depth=None), tmp_path / "g.svg")
    texts = [t.text or "" for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert any(t.lstrip("\xa0 ").startswith("of _Net") for t in texts)  # the caption run that lost its space
    assert [t for t in texts if t != t.strip(" ") or "  " in t] == []


def _frames(source):
    """{node id: the titles of the module frames around it, outermost first} of a DOT source."""
    frames, stack, title = {}, [], None
    for line in source.splitlines():
        if re.match(r"\t+subgraph cluster_\d+ \{$", line):
            stack.append(None)
        elif stack and stack[-1] is None and (title := re.search(r"label=<<B>([^<]+)</B>", line)):
            stack[-1] = title.group(1)
        elif line.strip() == "}" and stack:
            stack.pop()
        elif node := re.match(r"\t+(\w+) \[label=", line):
            frames[node.group(1)] = tuple(stack)
    return frames


def _frames_of(source, name):
    """The frames around the node whose label starts with the bold `name`."""
    key = next(k for k, v in _node_labels(source).items() if re.search(rf"<TD[^>]*><B>{re.escape(name)}</B>", v))
    return _frames(source)[key]


def test_inputs_are_drawn_outside_the_modules_they_are_passed_into():
    # a module's frame holds its ops and its parameters; a tensor made outside and passed in stays outside
    from models.explore_cmd import TinyMLP, xor_loss
    from models.gpt import GPT, GPTConfig
    manual_seed(0)
    mlp = TinyMLP()
    src = draw_graph(xor_loss(mlp), params=mlp).source
    assert _frames_of(src, "x") == () and _frames_of(src, "y") == ()
    assert _frames_of(src, "hidden.weight") == ("hidden",) and _frames_of(src, "linear") == ("hidden",)
    gpt = GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=8))
    block = gpt.transformer.h[0]
    block.attn.flash = False  # attention in primitive ops, with its causal mask made inside the module
    x = randn(1, 4, 8)
    x.name = "x"
    src = draw_graph((block(x) ** 2).mean(), params=block, depth=None).source
    assert _frames_of(src, "x") == ()
    mask = next(k for k, v in _node_labels(src).items() if "-inf" in v)
    assert _frames(src)[mask] == ("transformer.h.0", "transformer.h.0.attn")  # made inside: drawn inside
    assert _frames_of(src, "ln_1.weight") == ("transformer.h.0", "transformer.h.0.ln_1")
    from models.graph_cmd import linreg_loss
    loss, model = linreg_loss()
    src = draw_graph(loss, params=model).source
    assert _frames_of(src, "y") == () and _frames_of(src, "x") == ()  # the data, outside the mse frame


def test_every_text_of_a_saved_svg_is_as_wide_as_graphviz_measured_it(tmp_path):
    # a browser draws letters at their exact width, Graphviz sized the boxes with whole pixels per letter
    net, loss = _net_loss()
    dot = draw_graph(loss, params=net, view="backward", check=True, depth=None)
    texts = list(ET.parse(save_graph(dot, tmp_path / "g.svg")).getroot().iter("{http://www.w3.org/2000/svg}text"))
    assert len(texts) > 50 and all(t.get("lengthAdjust") == "spacingAndGlyphs" for t in texts)
    runs = [(t.text, float(t.get("textLength")), float(t.get("x"))) for t in texts if t.get("text-anchor") == "start"]
    caption = next(k for k, (text, _, _) in enumerate(runs) if text == "backward view")
    assert runs[caption][2] + runs[caption][1] == runs[caption + 1][2]  # the next run starts where it ends
