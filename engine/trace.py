"""A backward pass written out step by step, for learners.

`trace_backward(loss)` runs the real backward pass (`engine.autograd.run_backward`,
the one the engine trains with) with an observer that keeps each step: one row per
edge, in the order backward visits it, with the gradient arriving at the node, the
op's local derivative in words (each op states its own, beside its backward rule;
the table fills in the names it gives the tensors),
what the input receives after the engine summed a broadcast gradient back to its
shape, and the input's running total. Nothing is written to `.grad` and the graph is
not freed, so it can be traced (and drawn, and back-propagated) again. Printing the
result shows a table:

    from engine import Tensor
    from engine.trace import trace_backward
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = Tensor(3.0, requires_grad=True, name="b")
    print(trace_backward((a * b).sum()))
"""
from dataclasses import dataclass, field

import numpy as np

from engine.autograd import run_backward, toposort
from engine.display import table_html
from engine.ops.reduce import reduced_axes
from engine.tensor import Tensor


def parameter_names(params):
    """{id(tensor): name} from a dict name -> Tensor or a Module's named parameters (None: {})."""
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return {id(t): str(name) for name, t in items}


class Summary:
    """A gradient array as the table shows it: values when small, shape and norm when big."""

    __slots__ = ("shape", "dtype", "norm", "values")

    def __init__(self, array, max_values=8):
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        self.norm = float(np.sqrt(np.sum(np.square(array, dtype=np.float64)))) if array.size else 0.0
        self.values = np.array(array, copy=True) if array.size <= max_values else None

    def __str__(self):
        if self.values is None:
            return f"{self.shape} norm={self.norm:.4g}"
        return format_values(self.values)


def format_values(a):
    """A small array on one line, 4 significant digits ('0.7071', '[1, -0.5]')."""
    if a.ndim == 0:
        return f"{a.item():.4g}"
    text = np.array2string(a, precision=4, separator=", ", max_line_width=10**6, threshold=10**6,
                           formatter={"float_kind": lambda v: f"{v:.4g}"})
    return " ".join(text.split())


@dataclass
class TraceRow:
    """One edge of the backward pass: what `node` sent to its input `parent`.

    `upstream` is the gradient arriving at `node` (d loss / d node), `local` describes
    the derivative of the node with respect to this input, `contribution` is what the
    input receives (after the engine summed a broadcast gradient back to its shape),
    `total` the input's gradient so far, `notes` what else happened on the way;
    `output_tensor` and `input_tensor` are the two tensors of the edge.
    """
    step: int
    node: str
    op: str
    parent: str
    index: int
    upstream: Summary
    local: str
    raw_shape: tuple
    contribution: Summary
    total: Summary
    notes: tuple
    output_tensor: object = field(default=None, repr=False)
    input_tensor: object = field(default=None, repr=False)


class BackwardTrace:
    """The rows of a traced backward pass; `print()` it for the table.

    `rows` lists the `TraceRow`s in visiting order and `grad(t)` gives the final
    gradient (an ndarray) of any tensor of the graph that requires grad.
    """

    def __init__(self, root_label, seed, rows, grads, labels):
        self.root_label = root_label
        self.seed = seed
        self.rows = rows
        self._grads = grads
        self._labels = labels

    def grad(self, t):
        """d root / d t as an ndarray (None if t is not in the graph or gets no gradient)."""
        return self._grads.get(id(t))

    def label(self, t):
        """The name the table uses for tensor `t`."""
        return self._labels.get(id(t))

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def _table(self):
        """(caption, column names, rows of cells): what both the text and the HTML table show."""
        head = ("step", "node", "-> input", "upstream g", "local derivative", "contribution",
                "total at input", "notes")
        body = [(str(r.step), f"{r.node} ({r.op})", r.parent, str(r.upstream), r.local, str(r.contribution),
                 str(r.total), "; ".join(r.notes)) for r in self.rows]
        caption = f"backward from {self.root_label}, seeded with d {self.root_label}/d {self.root_label} = {self.seed}"
        return caption, head, body

    def __str__(self):
        caption, head, body = self._table()
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        lines = [caption]
        for row in [head, tuple("-" * w for w in widths)] + body:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        return "\n".join(lines)

    def _repr_html_(self):
        """The table in a notebook, as an HTML table."""
        return table_html(*self._table())

    __repr__ = __str__


def tensor_labels(order, names):
    """Labels for the tensors of `order`: their name if known, else `op#k` or `leaf#k`."""
    labels = {}
    for k, t in enumerate(order):
        name = names.get(id(t)) or t.name
        if name:
            labels[id(t)] = str(name)
        elif t._ctx is not None:
            labels[id(t)] = f"{t._ctx.op.name}#{k}"
        else:
            labels[id(t)] = f"leaf#{k}"
    return labels


def _seed(root, grad):
    if grad is None:
        if root.data.size != 1:
            raise ValueError(f"trace_backward: the root has shape {root.shape}; pass grad= of that shape "
                             f"(or trace a scalar such as root.sum())")
        return np.ones(root.shape, dtype=root.dtype)
    g = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype)
    if g.shape != root.shape:
        raise ValueError(f"trace_backward: grad has shape {g.shape}, the root has shape {root.shape}")
    return g


def _ordinal(k):
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def trace_backward(root, grad=None, params=None, max_values=8):
    """Trace the backward pass from `root`: one `TraceRow` per edge, in visiting order.

    `grad` seeds a non-scalar root (default: 1 for a scalar). `params` (a dict
    name -> Tensor, or a Module) names the leaves in the table. Arrays of up to
    `max_values` elements are shown in full, bigger ones as shape and norm.
    `.grad` fields are left alone and the graph is not freed.
    """
    if not root.requires_grad:
        raise ValueError("trace_backward: the root does not require grad, so there is no backward pass to trace")
    seed = _seed(root, grad)
    order = toposort([root])
    recorder = _Recorder(order, tensor_labels(order, parameter_names(params)), max_values)
    recorder.grads[id(root)] = seed
    run_backward([root], [Tensor._wrap(seed)], retain_graph=True, inputs=[], observer=recorder.observe)
    return BackwardTrace(recorder.labels[id(root)],
                         format_values(seed) if seed.size <= max_values else f"ones{seed.shape}",
                         recorder.rows, recorder.grads, recorder.labels)


class _Recorder:
    """The observer `trace_backward` gives the walker: a `TraceRow` for every edge it reports."""

    def __init__(self, order, labels, max_values):
        self.outputs = {id(t._ctx): t for t in order if t._ctx is not None}  # node -> the tensor it made
        self.labels = labels
        self.max_values = max_values
        self.rows = []
        self.grads = {}    # id(tensor) -> its gradient so far (a copy: the walker may add into its own)
        self.counts = {}   # id(tensor) -> contributions received so far

    def name_of(self, t):
        """What the local-derivative column calls an input: its label, or a constant's value or name."""
        label = self.labels.get(id(t)) or t.name
        if label:
            return label
        return format_values(t.data) if t.data.size == 1 else "const"

    def observe(self, node, i, upstream, raw, contribution, total):
        """Called by `run_backward` as input `i` of `node` receives `contribution` (see there)."""
        out, p = self.outputs[id(node)], node.parents[i]
        notes = []
        if raw.shape != contribution.shape:
            axes = reduced_axes(raw.shape, contribution.shape)
            word = "axis" if len(axes) == 1 else "axes"
            notes.append(f"summed over {word} {', '.join(map(str, axes))}: {tuple(raw.shape)} → {tuple(p.shape)}")
        if raw.dtype != contribution.dtype:
            notes.append(f"cast {raw.dtype} → {contribution.dtype}")
        count = self.counts[id(p)] = self.counts.get(id(p), 0) + 1
        if count > 1:
            notes.append(f"{_ordinal(count)} contribution, added to the total")
        self.grads[id(p)] = total.data.copy()
        names = tuple(self.name_of(q) for q in node.parents)
        self.rows.append(TraceRow(
            len(self.rows) + 1, self.labels[id(out)], node.op.name, self.labels[id(p)], i,
            Summary(upstream.data, self.max_values), node.op.derivative(node, i, names),
            tuple(raw.shape), Summary(contribution.data, self.max_values), Summary(total.data, self.max_values),
            tuple(notes), out, p))
