"""What an op is, and what applying one records in the graph.

Ops are never instantiated. `SomeOp.apply(*tensors, **attrs)` runs `record`:
`forward(ctx, *arrays, **attrs)` computes the result with numpy and may keep arrays in
`ctx.saved`; when a graph is being recorded, the result points at a `Node` (its
`_ctx`) that remembers the op, the parent tensors (in order) and the attrs. When
nothing is recorded, `ctx` is a scratch object dropped after the call (no node is made
for a result nobody can differentiate), so forward uses only `ctx.saved` and
`ctx.recorded` (True when backward may run: a forward can skip work only it needs).
`backward(ctx, grad, out)` returns one gradient Tensor (or None) per parent, written
with Tensor operations so that it can itself be recorded (`create_graph=True`). A
gradient may keep the broadcast shape of the output: the engine sums it back to the
parent's shape. Backward must not return an array it saved (the engine may
accumulate into returned arrays in place).

Nothing points back from a node to its output, so a graph is freed by reference
counting as soon as the last tensor of it is dropped.
"""
import numpy as np

from engine import anomaly
from engine.errors import ShapeError
from engine.grad_mode import clock, state
from engine.tensor import Tensor


class Node:
    """One recorded op application: the op, its parents, and what backward needs."""

    __slots__ = ("op", "parents", "attrs", "saved", "scope", "seq", "freed", "created_at")
    recorded = True  # forward may ask: its result is in the graph, so backward may run

    def __init__(self, op, parents, attrs):
        self.op = op
        self.parents = parents  # tuple of Tensors, in argument order
        self.attrs = attrs      # the op's non-tensor arguments (axis, shape, ...)
        self.saved = None       # arrays the forward pass kept for backward
        self.freed = False

    @property
    def name(self):
        """The op's name as the op table has it (`mul`, `matmul`, ...)."""
        return self.op.name

    def where(self):
        """Where the op was created (file:line), when anomaly mode recorded it."""
        return getattr(self, "created_at", None) or "unknown place (enable detect_anomaly() to record it)"


class _Unrecorded:
    """The `ctx` of a forward pass that is not recorded: somewhere to put `saved`, then dropped."""

    __slots__ = ("saved",)
    recorded = False


def record(op, *parents, **attrs):
    """Run `op` forward on the parents' arrays and, when grad is on, record it (what `op.apply` does)."""
    recording = False
    if state.grad_enabled:
        for p in parents:
            if p.requires_grad:
                recording = True
                break
    node = Node(op, parents, attrs) if recording else _Unrecorded()
    n = len(parents)
    try:  # spelled out: on Python 3.11 a list comprehension is a call, and passing an empty **attrs costs 0.1 µs
        if n == 2 and not attrs:
            out = op.forward(node, parents[0].data, parents[1].data)
        elif n == 1:
            out = op.forward(node, parents[0].data, **attrs) if attrs else op.forward(node, parents[0].data)
        else:
            out = op.forward(node, *[p.data for p in parents], **attrs)
    except ValueError as err:
        if isinstance(err, ShapeError):
            raise
        raise ShapeError(f"{op.name}: cannot combine shapes {_shapes(parents)}: {err}") from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    t = Tensor._wrap(out)
    if recording:
        t.requires_grad = True
        t._ctx = node
        node.scope = state.scope
        node.seq = next(clock)  # later nodes have larger numbers; backward compares it with changes
        if state.anomaly:
            node.created_at = anomaly.user_frame()
    if state.anomaly:
        anomaly.check_forward(op, out)
    return t


def _shapes(parents):
    return " and ".join(str(p.shape) for p in parents)


_ENGINE_OPS = []  # every op class defined in engine/ops/, in the order defined: engine.ops.OPS


class Op:
    """A primitive op: subclasses set `name` and define `forward`, `backward` and the derivative's text."""

    name = None
    uses_output = False  # True when backward reads `out`: editing it in place is then an error
    elementwise = False  # True when output element i depends only on element i of each (broadcast) input:
                         # the local derivative is then one number per element (backward applied to ones)
    inputs = ("x",)      # the placeholders of the derivative texts, one per input, in order
    derivatives = ()     # per input, d(output)/d(that input) in words: "d({a}*{b})/d {a} = {b}"

    def derivative(ctx, index, names):
        """The local derivative d(output)/d(input `index`) in words, calling the inputs `names`.

        `trace_backward` shows it beside each edge, with the names its table gives the
        tensors. This fills `names` into `derivatives[index]` (the last text serves any
        further inputs); an op whose derivative depends on its attrs (the power of
        `x ** p`, a reduction mode) states it by overriding this.
        """
        op = ctx.op
        if not op.derivatives:
            return f"{op.name}'s backward rule"
        return op.derivatives[min(index, len(op.derivatives) - 1)].format(**dict(zip(op.inputs, names)))

    apply = classmethod(record)  # SomeOp.apply(*tensors, **attrs) runs record(SomeOp, *tensors, **attrs)

    def __init_subclass__(cls, **kwargs):
        """Defining an op class in engine/ops/ adds it to the engine's table, `engine.ops.OPS`.

        Ops defined anywhere else (your own, the docs' examples) work the same way but stay
        out of the table, whose every entry needs test cases in tests/op_cases.py.
        """
        super().__init_subclass__(**kwargs)
        if cls.name is None or not cls.__module__.startswith("engine.ops."):
            return
        taken = [op for op in _ENGINE_OPS if op.name == cls.name]
        if taken:
            raise TypeError(f"{cls.__module__}.{cls.__qualname__}: the op name {cls.name!r} is taken by "
                            f"{taken[0].__module__}.{taken[0].__qualname__}; op names must be distinct")
        _ENGINE_OPS.append(cls)


def engine_ops():
    """The op classes defined in engine/ops/ so far, in the order they were defined."""
    return tuple(_ENGINE_OPS)
