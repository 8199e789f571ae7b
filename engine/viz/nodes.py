"""The labels of the drawn things: tensor/op nodes, collapsed-module boxes, reduction steps."""
import numpy as np

from engine.viz.labels import attrs_text, cell, esc, number, shape_text, table, value_rows
from engine.viz.style import BOX_COLOR, GRAD_COLOR, REDUCE_COLOR, ROLE_COLORS, ROLE_TITLES, TEXT_DIM, check_level


def _title(node):
    """Bold header text: op name with any inlined constants, or the leaf's name."""
    if node.is_leaf:
        return f"<B>{esc(node.name)}</B>" if node.name else f"<I>{esc(ROLE_TITLES[node.role].split(' (')[0])}</I>"
    head = f"<B>{esc(node.op)}</B>"
    if node.inlined:
        consts = dict(node.inlined)
        n_args = len(node.inputs) + len(node.inlined)
        head += esc("(" + ", ".join(number(consts[i]) if i in consts else "·" for i in range(n_args)) + ")")
    if node.name:
        head = f"<B>{esc(node.name)}</B> = " + head
    return head


def _norm(a):
    return float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _check_rows(result):
    color, word = check_level(result.rel_err)
    where = list(result.element) if result.element else ""
    return color, [
        cell(f"<B>grad check: {word}</B>, rel. error {result.rel_err:.1e}", align="LEFT", size=10),
        cell(esc(f"analytic {result.analytic:.6g}, numeric {result.numeric:.6g}"), align="LEFT", size=10),
    ] + ([cell(esc(f"worst of {result.checked} elements checked: {where}"), align="LEFT", size=9, color=TEXT_DIM)]
         if result.checked > 1 else [])


def node_label(node, grad, max_values, check=None):
    """The HTML label of a tensor/op node: header, attributes, shape and dtype, values, grad, check."""
    t = node.tensor
    role = node.role
    rows = [cell(_title(node), bgcolor=ROLE_COLORS[role])]
    if node.attrs:
        rows.append(cell(esc(attrs_text(node.attrs)), size=9, color=TEXT_DIM))
    rows.append(cell(esc(f"{shape_text(t.shape) if t.ndim else 'scalar'} {t.dtype}"), size=10))
    small = t.data.size <= max_values
    if small:
        rows += value_rows("data", t.data)
    if grad is not None:
        rows += value_rows("grad", grad, color=GRAD_COLOR) if small else [
            cell(esc(f"grad norm {_norm(grad):.4g}"), size=10, color=GRAD_COLOR)]
    bg = "white"
    if check is not None:
        bg, extra = _check_rows(check)
        rows += extra
    thick = 2 if role == "output" else 1
    return table(rows, bgcolor=bg, penwidth=thick)


def _shapes(tensors, limit=3):
    shown = ", ".join(shape_text(t.shape) for t in tensors[:limit])
    return shown + (f" +{len(tensors) - limit} more" if len(tensors) > limit else "")


def _count(n, word):
    return f"{n:,} {word}{'s' * (n != 1)}"


def box_label(box, class_name, check=None):
    """The HTML label of a collapsed module: name, class, op count, parameters, shapes in and out."""
    head = f"<B>{esc(box.scope)}</B>"
    if class_name:
        head += f" <I>{esc(class_name)}</I>"
    params = box.params
    numbers = sum(p.tensor.data.size for p in params)
    rows = [cell(head, bgcolor=BOX_COLOR), cell(esc(_count(box.ops, "op")), size=10)]
    if params:
        rows.append(cell(esc(f"{_count(len(params), 'parameter')}, {_count(numbers, 'number')}"), size=10))
    if box.ins:
        rows.append(cell(esc(f"in: {_shapes(box.ins)}"), size=10))
    if box.outs:
        rows.append(cell(esc(f"out: {_shapes(box.outs)}"), size=10))
    bg = "white"
    if check is not None:
        name, result = check
        bg, _ = check_level(result.rel_err)
        rows.append(cell(esc(f"grad check worst: {name}"), size=10))
        rows.append(cell(esc(f"rel. error {result.rel_err:.1e}"), size=10))
    return table(rows, bgcolor=bg, border_color="#6A5A9A", penwidth=2)


def reduce_label(raw_shape, shape, axes, cast=None):
    """The HTML label of a 'sum to' step where a broadcast gradient is summed back."""
    word = "axis" if len(axes) == 1 else "axes"
    rows = [cell(f"<B>sum to {esc(shape_text(shape))}</B>", bgcolor=REDUCE_COLOR, size=10),
            cell(esc(f"over {word} {', '.join(map(str, axes))} of {shape_text(raw_shape)}"), size=9)]
    if cast:
        rows.append(cell(esc(cast), size=9))
    return table(rows, border_color=GRAD_COLOR)
