"""One pass through a graph: its picture, and its forward and backward steps.

`read_pass` reads the graph that produced a root, chooses what to draw (every op, or
modules collapsed when the graph is too large), traces the backward pass and turns
both phases into steps. The graph is only read: no `.grad` is written and nothing
is freed.
"""
from dataclasses import dataclass, field

import numpy as np

from engine.tensor import Tensor
from engine.trace import trace_backward
from engine.viz.clusters import Box, GraphTooLarge, choose_layout, collapse, max_depth
from engine.viz.draw import module_classes
from engine.viz.explore import picture
from engine.viz.explore.backward import backward_steps
from engine.viz.explore.forward import forward_steps
from engine.viz.explore.names import tensor_names
from engine.viz.explore.values import describe
from engine.viz.graph import read_graph


class ExploreError(ValueError):
    """The explorer cannot walk this graph; the message says why and what to do."""


@dataclass
class Pass:
    """The graph of one forward and backward pass, as the page shows it."""
    graph: object
    layout: object
    trace: object
    steps: list
    nodes: dict                                  # key -> what clicking the node shows
    svg: str = None                              # None: not drawn (see notes)
    size: tuple = (0, 0)
    notes: list = field(default_factory=list)


def choose(graph, depth, max_nodes, hint):
    """(layout, drawn, notes): what to draw at `depth` within `max_nodes` nodes.

    depth=None draws every op and 'auto' chooses as `draw_graph` does; an int collapses
    the modules of that nesting depth. When that is more than `max_nodes` nodes, the
    modules are collapsed deeper until it fits and a note says so; when nothing fits
    the layout keeps every op and the picture is left out (the note says that too).
    `hint` (a `DepthHint`) words the advice on depth.
    """
    try:
        layout = choose_layout(graph, depth, max_nodes)
    except GraphTooLarge:
        layout = None
    if layout is not None:
        notes = []
        if layout.depth:
            full = len(collapse(graph, None).items)
            notes.append(f"Modules are collapsed at depth={layout.depth}: each box is one step ({full} nodes in "
                         f"full; {hint.every} shows every op).")
        return layout, True, notes
    wanted = len(collapse(graph, None if depth == "auto" else depth).items)
    limit = hint.limit_at(max_nodes)
    top = depth - 1 if isinstance(depth, int) else max_depth(graph)
    for d in range(min(top, max_depth(graph)), 0, -1):
        layout = collapse(graph, d)
        if len(layout.items) <= max_nodes:
            return layout, True, [f"The graph would have {wanted} nodes, more than {limit}: modules "
                                  f"are collapsed at depth={d} to fit ({len(layout.items)} nodes; raise "
                                  f"{hint.limit} to see more)."]
    return collapse(graph, None), False, [
        f"The graph has {wanted} nodes, more than {limit}, and no module depth makes it fit, so it "
        f"is not drawn; the panel and the table still go through every step (raise {hint.limit} to draw it)."]


def namer(graph, trace):
    """name_of(tensor): what the page calls it (see `engine.viz.explore.names`); 'const' outside the graph."""
    names = tensor_names(graph, trace)

    def name_of(t):
        return names.get(id(t)) or trace.label(t) or "const"
    return name_of


def _node_info(item, classes, name_of, max_values):
    if isinstance(item, Box):
        title = item.scope + (f" ({classes[item.scope]})" if classes.get(item.scope) else "")
        value = describe(item.outs[0].data, max_values) if item.outs else None
        return {"label": title, "kind": f"module, {item.ops} ops", "value": value}
    kind = {"param": "parameter", "input": "input (requires grad)", "data": "data (no gradient)",
            "op": f"{item.op}", "output": f"{item.op}, the output"}[item.role]
    return {"label": name_of(item.tensor), "kind": kind, "value": describe(item.tensor.data, max_values)}


def check_root(root):
    """Raise ExploreError unless `root` is a tensor with a graph to walk."""
    if not isinstance(root, Tensor):
        raise ExploreError(f"explore: expected the output Tensor (e.g. the loss), got {type(root).__name__}")
    if not root.requires_grad:
        raise ExploreError("explore: the output does not require grad, so there is no backward pass to show "
                           "(give a leaf requires_grad=True, and do not compute it under no_grad())")
    node = root._ctx
    if node is not None and node.freed:
        raise ExploreError("explore: the graph was freed by a backward() call; explore before calling "
                           "backward(), or call backward(retain_graph=True)")


def read_pass(root, params, depth, max_nodes, max_values, hint, draw=True):
    """The `Pass` of `root`: graph, layout, trace, steps, node details and (with `draw`) the picture.

    `hint` (a `DepthHint`) words the notes' advice on depth."""
    check_root(root)
    graph = read_graph(root, params)
    layout, drawn, notes = choose(graph, depth, max_nodes, hint)
    seed = None if root.data.size == 1 else np.ones(root.shape, dtype=root.dtype)
    try:
        trace = trace_backward(root, grad=seed, params=params, max_values=max_values)
    except RuntimeError as err:
        raise ExploreError(f"explore: {err}") from None
    if root.data.size != 1:
        notes.append(f"The output has shape {root.shape}, not a single number: backward is seeded with ones "
                     f"(as for output.sum()).")
    classes = module_classes(params, graph)
    name_of = namer(graph, trace)
    steps = forward_steps(graph, layout, classes, name_of, max_values, hint)
    steps += backward_steps(graph, layout, trace, classes, max_values, name_of, hint)
    nodes = {item.key: _node_info(item, classes, name_of, max_values) for item in layout.items}
    result = Pass(graph, layout, trace, steps, nodes, notes=notes)
    if draw and drawn:
        try:
            result.svg, result.size = picture.render(root, params, layout.depth, max_values)
        except picture.NoPicture as err:
            result.notes.append(str(err) + ".")
    return result

