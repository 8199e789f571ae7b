"""The forward phase: the leaves, then each op in the order the engine computed it.

A collapsed module is one step (the ops it ran, its outputs' values). Each step is
a plain dict the page displays as it is (see `engine.viz.explore.steps`).
"""
from engine.viz.clusters import Box
from engine.viz.explore.picture import edge_key
from engine.viz.explore.steps import field, step
from engine.viz.explore.values import bubble, count, describe, short
from engine.viz.labels import number, shape_text

MAX_LISTED = 12  # leaves or module outputs listed in one panel; the rest are counted
MAX_INPUTS = 4   # an op's inputs shown beside its result


def computation_order(graph):
    """The graph's op nodes in the order the engine computed them.

    A node carries its creation counter as `seq` when the engine records one;
    otherwise the graph's topological order (parents before children, in argument
    order) stands in for it.
    """
    ops = [n for n in graph.nodes if not n.is_leaf]
    seqs = [getattr(n.tensor._ctx, "seq", None) for n in ops]
    if any(s is None for s in seqs):
        return ops
    return [ops[i] for i in sorted(range(len(ops)), key=seqs.__getitem__)]


def _call_text(node, name_of):
    """'mul(e, f)': the op applied to its inputs' names, constants written as numbers."""
    args = {i: name_of(p.tensor) for i, p in node.inputs}
    args.update({i: number(v) for i, v in node.inlined})
    return f"{node.op}({', '.join(args[i] for i in sorted(args))})"


def _leaves_step(layout, name_of, max_values):
    leaves = [i for i in layout.items if not isinstance(i, Box) and i.is_leaf]
    fields = [field(name_of(n.tensor), value=describe(n.tensor.data, max_values), tone=n.role)
              for n in leaves[:MAX_LISTED]]
    notes = [f"{len(leaves) - MAX_LISTED} more leaves: click one to see it"] if len(leaves) > MAX_LISTED else []
    return step("forward", "leaves", "The leaves: inputs and parameters hold their values before anything is computed",
                item=None, lights=[n.key for n in leaves], fields=fields, notes=notes,
                row=["leaves", f"{len(leaves)} tensors", ""], flow="init")


def _feeding_edges(nodes, layout):
    """The arrows that bring data into `nodes` from outside them, each once."""
    keys = []
    for node in nodes:
        for i, parent in node.inputs:
            key = edge_key(layout, node, parent, i)
            if key and key not in keys:
                keys.append(key)
    return keys


def _op_step(node, layout, name_of, max_values):
    t = node.tensor
    label = name_of(t)
    inputs = [field(f"input {name_of(p.tensor)}", value=describe(p.tensor.data, max_values))
              for _, p in node.inputs[:MAX_INPUTS]]
    notes = [f"{k} = {v!r}" for k, v in node.attrs.items() if not hasattr(v, "shape")]
    return step("forward", "op", f"{label} = {_call_text(node, name_of)}", item=node.key, lights=[node.key],
                edges=_feeding_edges([node], layout),
                fields=inputs + [field(f"= {label}", value=describe(t.data, max_values), tone="value")], notes=notes,
                bubble=bubble(t.data), row=[label, node.op, short(t.data, max_values)], flow="loss")


def _box_step(box, layout, classes, name_of, max_values, hint):
    outs = box.outs
    title = f"{box.scope}" + (f" ({classes[box.scope]})" if classes.get(box.scope) else "")
    fields = [field(f"out {name_of(t)}", value=describe(t.data, max_values), tone="value") for t in outs[:MAX_LISTED]]
    ins = ", ".join(shape_text(t.shape) for t in box.ins[:MAX_LISTED])
    notes = [f"{count(box.ops, 'op')} ran inside this module; it is collapsed into one step (a bigger "
             f"{hint.more} shows them)"]
    if ins:
        notes.append(f"inputs of shapes {ins}")
    first = outs[0] if outs else None
    value = short(first.data, max_values) if first is not None else ""
    return step("forward", "box", f"{title}: {count(box.ops, 'op')}", item=box.key, lights=[box.key],
                edges=_feeding_edges([n for n in box.members if not n.is_leaf], layout), fields=fields,
                notes=notes, bubble=bubble(first.data) if first is not None else "",
                row=[box.scope, count(box.ops, "op"), value], flow="loss")


def forward_steps(graph, layout, classes, name_of, max_values, hint):
    """The forward phase as steps: the leaves, then one step per op (or per collapsed module).

    `hint` (a `DepthHint`) words the advice on depth."""
    steps = [_leaves_step(layout, name_of, max_values)]
    current_box = None
    for node in computation_order(graph):
        item = layout.item_of(node)
        if isinstance(item, Box):
            if item is not current_box:
                steps.append(_box_step(item, layout, classes, name_of, max_values, hint))
                current_box = item
            continue
        current_box = None
        steps.append(_op_step(node, layout, name_of, max_values))
    return steps
