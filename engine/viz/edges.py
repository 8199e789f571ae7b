"""The arrows: data flowing forward, or gradients flowing back with their 'sum to' steps.

Both return plain (from key, to key, attrs) triples; between collapsed modules an
arrow is drawn once however many tensors cross there.
"""
from engine.ops.reduce import reduced_axes
from engine.viz.clusters import Box
from engine.viz.labels import shape_text, values_lines
from engine.viz.nodes import reduce_label
from engine.viz.style import DATA_EDGE, GRAD_COLOR

# Ops whose inputs are interchangeable: their edges need no 'a'/'b' labels.
_SYMMETRIC = {"add", "mul", "maximum"}


def _arg_name(i):
    return "abcdefgh"[i] if i < 8 else str(i)


def forward_edges(graph, layout):
    """[(from key, to key, attrs)]: parent to consumer, deduplicated between boxes."""
    edges, seen = [], set()
    for n in graph.nodes:
        for i, p in n.inputs:
            src, dst = layout.item_of(p), layout.item_of(n)
            if src is dst:
                continue
            collapsed = isinstance(src, Box) or isinstance(dst, Box)
            if collapsed and (src.key, dst.key) in seen:
                continue
            seen.add((src.key, dst.key))
            attrs = {}
            if not collapsed and n.op not in _SYMMETRIC and len(n.inputs) + len(n.inlined) > 1:
                attrs["label"] = _arg_name(i)
            if not p.tensor.requires_grad:
                attrs.update(color=DATA_EDGE, style="dashed")
            edges.append((src.key, dst.key, attrs))
    return edges


def _grad_text(summary):
    if summary.values is not None:
        return " ".join(values_lines(summary.values))
    return shape_text(summary.shape)


def backward_edges(graph, layout, trace):
    """Red arrows from each op back to its inputs, and 'sum to' steps where the engine reduces.

    Returns (edges, steps): edges as in `forward_edges` (declared input to op so the
    layout matches the forward view, drawn pointing back), steps as (key, label, the
    op's item), to be drawn beside that op.
    """
    edges, steps, seen = [], [], set()
    back = {"dir": "back", "color": GRAD_COLOR, "fontcolor": GRAD_COLOR, "penwidth": "1.3"}
    for k, row in enumerate(trace.rows):
        child, parent = graph.node_of(row.output_tensor), graph.node_of(row.input_tensor)
        src, dst = layout.item_of(parent), layout.item_of(child)
        collapsed = isinstance(src, Box) or isinstance(dst, Box)
        if src is dst or (collapsed and (src.key, dst.key) in seen):
            continue
        seen.add((src.key, dst.key))
        contribution = _grad_text(row.contribution)
        cast = next((note for note in row.notes if note.startswith("cast")), None)
        if row.raw_shape != row.contribution.shape:
            step = f"s{k}"
            axes = reduced_axes(row.raw_shape, row.contribution.shape)
            steps.append((step, reduce_label(row.raw_shape, row.contribution.shape, axes, cast), dst))
            edges.append((src.key, step, dict(back, label=contribution)))
            edges.append((step, dst.key, dict(back, label=shape_text(row.raw_shape))))
        else:
            edges.append((src.key, dst.key, dict(back, label=contribution + (f" ({cast})" if cast else ""))))
    for n in graph.nodes:  # inputs that get no gradient keep a faint forward arrow
        for _, p in n.inputs:
            src, dst = layout.item_of(p), layout.item_of(n)
            if not p.tensor.requires_grad and src is not dst and (src.key, dst.key) not in seen:
                seen.add((src.key, dst.key))
                edges.append((src.key, dst.key, {"color": DATA_EDGE, "style": "dashed"}))
    return edges, steps
