"""`draw_graph`: a computation graph as a `graphviz.Digraph` that teaches.

Forward view: data flows along the arrows from the leaves to the output. Backward
view: the same layout with the arrows reversed and red, labelled with the
gradient each edge carries; where an input was broadcast, a pink step shows the
gradient being summed back to the input's shape (as the engine does).
"""
import graphviz
import numpy as np

from engine.trace import trace_backward
from engine.viz.check import check_leaves
from engine.viz.clusters import Box, choose_layout, cluster_scope, scope_tree
from engine.viz.edges import backward_edges, forward_edges
from engine.viz.graph import read_graph
from engine.viz.hints import DepthHint
from engine.viz.labels import esc, keep_spaces, shape_text
from engine.viz.nodes import box_label, node_label
from engine.viz.style import EDGE_ATTRS, GRAPH_ATTRS, MODULE_BORDER, MODULE_FILL, NODE_ATTRS, legend_rows
from engine.viz.style import caption as caption_label

def module_classes(params, graph):
    """{scope: class name} of a Module's sub-modules, named as their ops' scopes are.

    A sub-module drawn on its own (a GPT's first block) may have recorded its ops
    under its full name in the model (`transformer.h.0.attn`): the prefix is found
    by matching a parameter's module path against the scope of the op that used it.
    """
    if params is None or not hasattr(params, "named_modules"):
        return {}
    return {name: type(m).__name__ for name, m in params.named_modules(_scope_prefix(graph))}


def _scope_prefix(graph):
    for n in graph.nodes:
        if n.role != "param" or not n.name or "." not in n.name:
            continue
        path = n.name.rsplit(".", 1)[0]
        for c in n.consumers:
            if c.scope == path or c.scope.endswith("." + path):
                return c.scope[:len(c.scope) - len(path)].rstrip(".")
    return ""


def _backward_trace(root, params):
    seed = None if root.data.size == 1 else np.ones(root.shape, dtype=root.dtype)
    return trace_backward(root, grad=seed, params=params, max_values=4)


def _grad_of(node, trace):
    if trace is not None:
        return trace.grad(node.tensor)
    return None if node.tensor.grad is None else node.tensor.grad.data


def _box_check(box, checks):
    """(name, LeafCheck) of the worst-checked leaf inside a collapsed module (NaN counts as worst)."""
    found = [(n.name or "?", checks[id(n.tensor)]) for n in box.members if id(n.tensor) in checks]
    return max(found, key=lambda f: np.nan_to_num(f[1].rel_err, nan=np.inf), default=None)


def _add_nodes(g, layout, classes, grads, checks, max_values, steps):
    """Every visible item, inside nested module clusters; each 'sum to' step beside its op."""
    tree = scope_tree(layout.items)
    members = {s: [] for s in tree}
    for item in layout.items:
        members[cluster_scope(item)].append(item)
    beside = {s: [] for s in tree}
    for key, label, item in steps:
        beside[cluster_scope(item)].append((key, label))

    def drawn(scope):  # a module holding nothing but one sub-module adds only a frame: skip it
        while not members[scope] and len(tree[scope]) == 1:
            scope = tree[scope][0]
        return scope

    def emit(sub, scope):
        for item in members[scope]:
            if isinstance(item, Box):
                sub.node(item.key, box_label(item, classes.get(item.scope), _box_check(item, checks)))
            else:
                sub.node(item.key, node_label(item, grads.get(item.key), max_values, checks.get(id(item.tensor))))
        for key, label in beside[scope]:
            sub.node(key, label)
        for child in map(drawn, tree[scope]):
            with sub.subgraph(name=f"cluster_{child_ids[child]}") as c:
                title = f"<B>{esc(child)}</B>"
                if classes.get(child):
                    title += f" <I>{esc(classes[child])}</I>"
                c.attr(label=f"<{keep_spaces(title)}>", style="rounded,filled", fillcolor=MODULE_FILL,
                       color=MODULE_BORDER, fontsize="11", labeljust="l")
                emit(c, child)

    child_ids = {s: i for i, s in enumerate(s for s in tree if s)}
    emit(g, "")


def arrow_keys(edges, argument_order=True):
    """The key to what the arrows `edges` ((src, dst, attrs) as drawn) show beyond their direction: the
    a, b labels of argument order (unless `argument_order` is False) and dashed arrows, where they occur."""
    keys = []
    if argument_order and any("label" in a for _, _, a in edges):
        keys.append("a, b: argument order")
    if any(a.get("style") == "dashed" for _, _, a in edges):
        keys.append("dashed: no gradient flows there")
    return keys


def _caption_lines(graph, layout, view, params, auto, edges, check, hint):
    root = graph.root
    ops = sum(1 for n in graph.nodes if not n.is_leaf)
    what = esc(root.name or (root.op or "leaf"))
    model = f" of {esc(type(params).__name__)}" if hasattr(params, "named_modules") else ""
    lines = [f"<B>{view} view</B>{model}: output {what} of shape {esc(shape_text(root.tensor.shape))}, "
             f"{ops} ops, {len(graph.nodes) - ops} leaves"]
    if view == "backward":
        notes = ["red arrows: the gradient flowing back from the output, labelled with what each edge carries "
                 "(values when small, else the shape)"]
    else:
        notes = ["arrows: data flowing forward"]
    lines.append("; ".join(notes + arrow_keys(edges, argument_order=view == "forward")))
    if layout.depth:
        how = "automatically " if auto else ""
        lines.append(esc(f"modules {how}collapsed at depth={layout.depth} ({len(graph.nodes)} nodes in full; "
                         f"{hint.every} draws everything, a bigger {hint.more} shows more)"))
    if check:
        lines.append("grad check: float64 central differences at a few elements of each leaf (the worst shown)")
    return lines


def draw_graph(root, params=None, *, view="forward", depth="auto", max_nodes=300, check=False, max_values=16,
               rankdir=None, legend=True, grads=True, caption=True, depth_hint=DepthHint()):
    """Draw the computation graph that produced `root`; returns a `graphviz.Digraph`.

    `params`: a dict name -> Tensor, or an nn.Module whose named parameters label the
    leaves (and whose module classes name the clusters). `view`: 'forward' (values
    and the `.grad` fields) or 'backward' (every tensor's gradient d root / d tensor,
    computed here without touching `.grad`; needs a graph not yet freed by backward).
    `depth`: None draws every op, an int collapses each module of that nesting depth
    into one box, 'auto' draws every op when that makes at most 60 nodes and else
    collapses as deep as stays within 60. More than `max_nodes` nodes raise
    `GraphTooLarge`, whose message suggests a depth. `check=True` compares each leaf's gradient with float64
    central differences and colours it by the relative error. Tensors of at most
    `max_values` elements show their values. `rankdir` 'LR' or 'TB' (default: LR for
    small pictures, TB for big ones); `legend` adds the colour key to the caption.
    `grads=False` leaves the gradients out of the labels (the explorer shows them itself), and
    `caption=False` the caption's lines, keeping the legend (the explorer writes its own, phase by phase).
    `depth_hint` (a `DepthHint`) words the caption's advice on depth as the caller
    spells it: `depth=None` by default, `--depth all` for the command line.
    """
    if view not in ("forward", "backward"):
        raise ValueError(f"view must be 'forward' or 'backward', not {view!r}")
    graph = read_graph(root, params)
    layout = choose_layout(graph, depth, max_nodes)
    trace = _backward_trace(root, params) if view == "backward" else None
    grads = {n.key: _grad_of(n, trace) for n in graph.nodes} if grads else {}
    checks = check_leaves(graph.tensors, root, [n.tensor for n in graph.nodes if n.is_leaf]) if check else {}
    if rankdir is None:
        rankdir = "LR" if len(layout.items) <= 30 else "TB"
    g = graphviz.Digraph("computation_graph", graph_attr=dict(GRAPH_ATTRS, rankdir=rankdir),
                         node_attr=NODE_ATTRS, edge_attr=EDGE_ATTRS)
    edges, steps = backward_edges(graph, layout, trace) if trace is not None else (forward_edges(graph, layout), [])
    lines = _caption_lines(graph, layout, view, params, depth == "auto", edges, check, depth_hint) if caption else []
    roles = {i.role for i in layout.items if not isinstance(i, Box)}
    key = legend_rows(roles, bool(layout.boxes), bool(steps), bool(checks)) if legend else ""
    if lines or key:
        g.attr(label=caption_label(lines, key))
    _add_nodes(g, layout, module_classes(params, graph), grads, checks, max_values, steps)
    for src, dst, attrs in edges:
        g.edge(src, dst, **attrs)
    return g
