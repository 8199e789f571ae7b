"""The backward phase: one step per edge of `trace_backward`, in the engine's order.

Each step shows what the trace's row says: the upstream gradient, the local
derivative (the formula and, for elementwise ops, its value from the op's own
backward rule), the contribution and the running total at the input, whether the
contribution was added to an earlier one and whether it was summed back to a
broadcast input's shape. The edges inside a collapsed module make one step that
shows the gradients reaching the module's inputs. The phase ends with the
gradients that `backward()` stores in `.grad`.
"""
import numpy as np

from engine.grad_mode import no_grad
from engine.tensor import Tensor
from engine.trace import Summary
from engine.viz.clusters import Box
from engine.viz.explore.names import derivative_text, operand
from engine.viz.explore.picture import edge_key
from engine.viz.explore.steps import field, step
from engine.viz.explore.values import BUBBLE_VALUES, count, describe
from engine.viz.labels import number, shape_text, values_lines

COLUMNS = ["node (op) → input", "upstream g", "local derivative", "g × local", "total at input", "notes"]


def summary_value(s):
    """A trace `Summary` as the panel shows an array: values when small, else shape and norm."""
    head = f"{shape_text(s.shape) if s.shape else 'scalar'} {s.dtype}"
    if s.values is not None:
        return {"shape": head, "lines": values_lines(s.values)}
    return {"shape": head, "stats": [["norm", number(s.norm)]]}


def grad_value(array, max_values):
    """A gradient array described the way the trace summarises it."""
    return summary_value(Summary(np.asarray(array), max_values))


def local_value(row, max_values):
    """The local derivative d node / d input as numbers, for elementwise ops (else None).

    For an elementwise op (`Op.elementwise`) the op's own backward rule applied to a
    gradient of ones is the derivative itself, one number per element of the output's
    (broadcast) shape.
    """
    out = row.output_tensor
    node = out._ctx
    if node is None or not node.op.elementwise or node.freed:
        return None
    with no_grad():
        grads = node.op.backward(node, Tensor._wrap(np.ones(out.shape, dtype=out.dtype)), out)
    grads = grads if isinstance(grads, tuple) else (grads,)
    g = grads[row.index] if row.index < len(grads) else None
    return None if g is None else describe(g.data, max_values)


TAG_CHARS = 24  # the longest gradient tag written with values; a longer one gives the norm


def grad_tag(s):
    """A gradient summary as the tag beside its node on the graph: its values when short, else its norm."""
    if s.values is not None and s.values.size <= BUBBLE_VALUES:
        text = "grad " + " ".join(values_lines(s.values))
        if len(text) <= TAG_CHARS:
            return text
    return f"grad norm {number(s.norm)}"


def _bubble(s):
    """A gradient summary as the graph's bubble shows it: a few values, else the shape."""
    if s.values is not None and s.values.size <= BUBBLE_VALUES:
        return str(s)
    return shape_text(s.shape)


def _sentences(row, count, parent):
    notes = []
    if tuple(row.raw_shape) != tuple(row.contribution.shape):
        notes.append(f"{parent} was broadcast to {shape_text(row.raw_shape)} in the forward pass, so its "
                     f"gradient is summed back to its shape {shape_text(row.contribution.shape)}")
    if count > 1:
        notes.append(f"{parent} was used {count} times so far on the way back: this contribution is added "
                     f"to the total")
    return notes


def local_formula(row, name_of):
    """The op's own text of the local derivative, written with the names of this node's inputs
    (constants as their value): 'd(error*error)/d error = error'."""
    node = row.output_tensor._ctx
    names = [name_of(p) if p.requires_grad or p.name or p.data.size != 1 else number(p.data.item())
             for p in node.parents]
    return derivative_text(node, row.index, names)


def _edge_step(row, count, graph, layout, root_label, max_values, name_of):
    child, parent = graph.node_of(row.output_tensor), graph.node_of(row.input_tensor)
    key = edge_key(layout, child, parent, row.index)
    there = layout.item_of(parent)
    total = summary_value(row.total)
    local = local_value(row, max_values)
    node_name, parent_name = name_of(row.output_tensor), name_of(row.input_tensor)
    node_sym, parent_sym = operand(node_name), operand(parent_name)
    formula = local_formula(row, name_of)
    fields = [field(f"upstream g = ∂{root_label}/∂{node_sym}", value=summary_value(row.upstream), tone="grad"),
              field("local derivative", text=formula, tone="formula")]
    if local is not None:
        fields.append(field(f"∂{node_sym}/∂{parent_sym}", value=local, tone="formula"))
    contribution = "contribution = g × local"
    if tuple(row.raw_shape) != tuple(row.contribution.shape):
        contribution += f", summed from {shape_text(row.raw_shape)}"
    fields += [field(contribution, value=summary_value(row.contribution), tone="grad"),
               field(f"total at {parent_name}", value=total, tone="total")]
    if row.notes:
        fields.append(field("the trace notes", text="; ".join(row.notes)))
    title = f"{node_name} ({row.op}) → {parent_name}"
    if isinstance(there, Box) and not parent_name.startswith(there.scope + "("):
        title += f", an output of {there.scope}"
    return step("backward", "edge", title, item=child.key,
                edges=[key] if key else [], grads=[[there.key, total, grad_tag(row.total)]] if there is parent else [],
                fields=fields, notes=_sentences(row, count, parent_name), bubble=_bubble(row.contribution),
                row=[f"{node_name} ({row.op}) → {parent_name}", str(row.upstream), formula, str(row.contribution),
                     str(row.total), "; ".join(row.notes)], flow="grad")


def _box_step(box, rows, graph, layout, classes, depth, name_of, hint):
    """The edges inside one collapsed module as one step: the gradients reaching its inputs."""
    edges, totals = [], {}
    for row in rows:
        child, parent = graph.node_of(row.output_tensor), graph.node_of(row.input_tensor)
        key = edge_key(layout, child, parent, row.index)
        if key and key not in edges:
            edges.append(key)
        there = layout.item_of(parent)
        if there is not box or parent.is_leaf:
            name = name_of(row.input_tensor)
            if isinstance(there, Box) and there is not box and not name.startswith(there.scope + "("):
                name += f", an output of {there.scope}"
            totals[name] = (parent, row.total)
    title = box.scope + (f" ({classes[box.scope]})" if classes.get(box.scope) else "")
    fields = [field(f"total at {name}", value=summary_value(total), tone="total")
              for name, (_, total) in totals.items()]
    grads = [[parent.key, summary_value(total), grad_tag(total)] for parent, total in totals.values()
             if layout.item_of(parent) is parent]
    ops = count(box.ops, "op")
    notes = [f"{count(len(rows), 'edge')} of the backward pass through {ops} inside this module make this one "
             f"step (modules are collapsed at depth={depth}; {hint.every} shows every edge)"]
    names = ", ".join(totals)
    return step("backward", "box", f"{title}: back through {ops}", item=box.key, edges=edges, grads=grads,
                fields=fields, notes=notes, bubble=ops,
                row=[f"{box.scope} ({ops}) → {names}", "", "inside the module", "", "", ""], flow="grad")


def _seed_step(graph, trace, max_values):
    root = graph.root
    summary = Summary(np.asarray(trace.grad(root.tensor)), max_values)
    seed = summary_value(summary)
    label = trace.root_label
    return step("backward", "seed", f"Backward starts at {label}: ∂{label}/∂{label} = {trace.seed}", item=root.key,
                grads=[[root.key, seed, grad_tag(summary)]],
                fields=[field(f"∂{label}/∂{label}", value=seed, tone="grad")],
                notes=["the gradient of the output with respect to itself is 1; from here each step sends a "
                       "gradient one edge back"],
                bubble=trace.seed, row=[label, "", "seed", trace.seed, trace.seed, ""], flow="grad")


def _grads_step(graph, layout, trace, max_values, name_of):
    leaves = [n for n in graph.nodes if n.is_leaf and n.tensor.requires_grad]
    fields, grads = [], []
    for n in leaves:
        g = trace.grad(n.tensor)
        summary = Summary(np.asarray(g), max_values) if g is not None else None
        value = summary_value(summary) if summary is not None else None
        fields.append(field(f"{name_of(n.tensor)}.grad", value=value, text=None if value else "no gradient",
                            tone="total"))
        if value is not None and layout.item_of(n) is n:
            grads.append([n.key, value, grad_tag(summary)])
    return step("backward", "grads", "Backward is done: these are the gradients backward() stores in .grad",
                grads=grads, fields=fields,
                notes=["each leaf's gradient is the sum of every contribution it received"],
                row=[f"done: {len(leaves)} leaves", "", "", "", "", ""], flow="grad")


def backward_steps(graph, layout, trace, classes, max_values, name_of, hint):
    """The backward phase as steps: the seed, one step per edge (or per collapsed module), the gradients.

    `hint` (a `DepthHint`) words the advice on depth."""
    steps = [_seed_step(graph, trace, max_values)]
    counts = {}
    group, group_box = [], None

    def flush():
        if group:
            steps.append(_box_step(group_box, list(group), graph, layout, classes, layout.depth, name_of, hint))
            group.clear()

    for row in trace.rows:
        counts[id(row.input_tensor)] = counts.get(id(row.input_tensor), 0) + 1
        owner = layout.item_of(graph.node_of(row.output_tensor))
        if isinstance(owner, Box):
            if owner is not group_box:
                flush()
                group_box = owner
            group.append(row)
            continue
        flush()
        group_box = None
        steps.append(_edge_step(row, counts[id(row.input_tensor)], graph, layout, trace.root_label, max_values,
                                name_of))
    flush()
    steps.append(_grads_step(graph, layout, trace, max_values, name_of))
    return steps
