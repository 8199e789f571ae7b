"""A backward pass written out step by step, for learners.

`trace_backward(loss)` walks the graph exactly the way `loss.backward()` does (the
same topological order, the same backward rule of every op, the same summing of
broadcast gradients back to a parent's shape) but keeps each step instead of
storing gradients: one row per edge, in the order backward visits it. Nothing is
written to `.grad` and the graph is not freed, so it can be traced (and drawn, and
back-propagated) again. Printing the result shows a table:

    from engine import Tensor
    from engine.trace import trace_backward
    a = Tensor([1.0, 2.0], requires_grad=True, name="a")
    b = Tensor(3.0, requires_grad=True, name="b")
    print(trace_backward((a * b).sum()))
"""
from dataclasses import dataclass, field

import numpy as np

from engine.grad_mode import no_grad
from engine.autograd import toposort
from engine.tensor import Tensor

# What each op's backward rule multiplies the upstream gradient by, per input.
_LOCAL = {
    "neg": ("d(-x)/dx = -1",),
    "add": ("d(a+b)/da = 1", "d(a+b)/db = 1"),
    "sub": ("d(a-b)/da = 1", "d(a-b)/db = -1"),
    "mul": ("d(a*b)/da = b", "d(a*b)/db = a"),
    "div": ("d(a/b)/da = 1/b", "d(a/b)/db = -a/b²"),
    "exp": ("d(exp x)/dx = exp x",),
    "log": ("d(log x)/dx = 1/x",),
    "tanh": ("d(tanh x)/dx = 1 - tanh²x",),
    "sigmoid": ("dσ(x)/dx = σ(x)(1 - σ(x))",),
    "relu": ("d relu(x)/dx = 1 where x > 0, else 0",),
    "sqrt": ("d√x/dx = 1/(2√x)",),
    "abs": ("d|x|/dx = sign(x)",),
    "erf": ("d erf(x)/dx = 2/√π·exp(-x²)",),
    "maximum": ("1 where a > b (½ at ties), else 0", "1 where b > a (½ at ties), else 0"),
    "where": ("1 where cond, else 0", "1 where not cond, else 0"),
    "matmul": ("d(a@b)/da: g @ bᵀ", "d(a@b)/db: aᵀ @ g"),
    "linear": ("d(x@Wᵀ+b)/dx: g @ W", "d(x@Wᵀ+b)/dW: gᵀ @ x", "d(x@Wᵀ+b)/db: g summed over rows"),
    "sum": ("1: g copied to every summed element",),
    "sum_to": ("1: g broadcast back",),
    "expand": ("1: g summed over the broadcast axes",),
    "max": ("1 at the maximum (shared at ties), else 0",),
    "min": ("1 at the minimum (shared at ties), else 0",),
    "reshape": ("1: g reshaped back",),
    "transpose": ("1: g transposed back",),
    "index": ("1 at the picked elements: g scattered into zeros",),
    "index_add": ("1: g gathered at the indices",),
    "cast": ("1: g cast back",),
    "softmax": ("d softmax: s·(g - Σ g·s)",),
    "log_softmax": ("d log_softmax: g - softmax(x)·Σg",),
    "logsumexp": ("d lse(x)/dx = softmax(x)",),
    "gelu": ("d gelu(x)/dx = Φ(x) + x·φ(x)",),
    "attention": ("dq = (P·(dP - Σ P·dP)) @ k · scale, P = softmax, dP = g @ vᵀ",
                  "dk = (P·(dP - Σ P·dP))ᵀ @ q · scale", "dv = Pᵀ @ g"),
}


def describe_local(node, index):
    """In words, the local derivative that `node`'s backward rule applies for input `index`."""
    name = node.op.name
    attrs = node.attrs
    if name == "pow" and "p" in attrs:
        p = attrs["p"]
        return "d(x**2)/dx = 2·x" if p == 2 else f"d(x**{p:g})/dx = {p:g}·x**{p - 1:g}"
    if name == "pow":
        return ("d(a**b)/da = b·a**(b-1)", "d(a**b)/db = a**b·log a")[index]
    if name == "concatenate":
        return f"1: input {index}'s slice of g"
    if name == "cross_entropy":
        rule = "softmax(logits) - onehot(targets)"
        return {"mean": f"({rule}) / N", "sum": rule, "none": f"{rule}, per item"}[attrs["reduction"]]
    if name == "layer_norm":
        roles = ["x"] + ["weight"] * attrs["has_weight"] + ["bias"] * attrs["has_bias"]
        return {"x": "(ĝ - mean ĝ - x̂·mean(ĝ·x̂)) / σ, ĝ = g·weight", "weight": "d y/d weight = x̂",
                "bias": "d y/d bias = 1"}[roles[index]]
    rule = _LOCAL.get(name)
    if rule is None:
        return f"{name}'s backward rule"
    return rule[min(index, len(rule) - 1)]


def parameter_names(params):
    """{id(tensor): name} from a dict name -> Tensor or a Module's named parameters (None: {})."""
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return {id(t): str(name) for name, t in items}


def reduced_axes(src, dst):
    """The axes (of shape `src`) that the engine sums over to bring a gradient to shape `dst`."""
    lead = len(src) - len(dst)
    return tuple(range(lead)) + tuple(i + lead for i, s in enumerate(dst) if s == 1 and src[i + lead] != 1)


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

    def __str__(self):
        head = ("step", "node", "-> input", "upstream g", "local derivative", "contribution",
                "total at input", "notes")
        body = [(str(r.step), f"{r.node} ({r.op})", r.parent, str(r.upstream), r.local, str(r.contribution),
                 str(r.total), "; ".join(r.notes)) for r in self.rows]
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head))]
        lines = [f"backward from {self.root_label}, seeded with d {self.root_label}/d {self.root_label} = {self.seed}"]
        for row in [head, tuple("-" * w for w in widths)] + body:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        return "\n".join(lines)

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


def _check_alive(node, out_label):
    if node.freed:
        raise RuntimeError(
            f"trace_backward: the graph was freed by a backward() call (at '{node.op.name}' making "
            f"{out_label}); trace before calling backward(), or call backward(retain_graph=True)")
    for i, (p, v) in enumerate(zip(node.parents, node.versions)):
        if p._version != v:
            raise RuntimeError(f"trace_backward: input {i} of '{node.op.name}' was modified in place after "
                               f"the forward pass; the recorded graph no longer matches its values")


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
    labels = tensor_labels(order, parameter_names(params))
    grads = {id(root): seed}
    counts = {}
    rows = []
    with no_grad():
        for t in reversed(order):
            node = t._ctx
            g = grads.get(id(t))
            if node is None or g is None:
                continue
            _check_alive(node, labels[id(t)])
            pgs = node.op.backward(node, Tensor._wrap(g), t)
            if type(pgs) is not tuple:
                pgs = (pgs,)
            for i, (p, pg) in enumerate(zip(node.parents, pgs)):
                if pg is None or not p.requires_grad:
                    continue
                raw_shape = tuple(pg.shape)
                notes = []
                if pg.shape != p.shape:
                    axes = reduced_axes(pg.shape, p.shape)
                    word = "axis" if len(axes) == 1 else "axes"
                    notes.append(f"summed over {word} {', '.join(map(str, axes))}: {raw_shape} → {tuple(p.shape)}")
                    pg = pg.sum_to(p.shape)
                if pg.data.dtype != p.data.dtype:
                    notes.append(f"cast {pg.data.dtype} → {p.data.dtype}")
                    pg = pg.astype(p.data.dtype)
                counts[id(p)] = counts.get(id(p), 0) + 1
                prev = grads.get(id(p))
                total = pg.data if prev is None else prev + pg.data
                if prev is not None:
                    notes.append(f"{_ordinal(counts[id(p)])} contribution, added to the total")
                grads[id(p)] = total
                rows.append(TraceRow(len(rows) + 1, labels[id(t)], node.op.name, labels[id(p)], i,
                                     Summary(g, max_values), describe_local(node, i), raw_shape,
                                     Summary(pg.data, max_values), Summary(total, max_values), tuple(notes), t, p))
    return BackwardTrace(labels[id(root)], format_values(seed) if seed.size <= max_values else f"ones{seed.shape}",
                         rows, grads, labels)
