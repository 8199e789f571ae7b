"""What an op is: a forward rule on numpy arrays beside a backward rule on Tensors.

Ops are never instantiated. `SomeOp.apply(*tensors, **attrs)` records one use of it:
`forward(ctx, *arrays, **attrs)` computes the result with numpy and may keep arrays in
`ctx.saved`; `backward(ctx, grad, out)` returns one gradient Tensor (or None) per
parent, written with Tensor operations so that it can itself be recorded
(`create_graph=True`). A gradient may keep the broadcast shape of the output: the
engine sums it back to the parent's shape. Backward must not return an array it
saved (the engine may accumulate into returned arrays in place).

`FusedOp` is for the few ops that are measurably faster or more stable as one
numpy kernel (layer norm, GELU): its backward is plain numpy (`backward_arrays`), and
when a graph of the backward pass is wanted it differentiates `composite`, the same
function written with primitive ops.
"""
from engine import autograd
from engine.grad_mode import state
from engine.tensor import Tensor


class Op:
    """A primitive op: subclasses set `name` and define `forward` and `backward`."""

    name = None
    uses_output = False  # True when backward reads `out`: editing it in place is then an error

    @classmethod
    def apply(cls, *parents, **attrs):
        """Run the op on tensors and record it in the graph when grad is on."""
        return autograd.record(cls, parents, attrs)


class FusedOp(Op):
    """An op with a numpy backward, and a composite of primitives for higher orders."""

    def backward(ctx, g, out):
        op = ctx.op
        if not state.grad_enabled:
            return tuple(None if a is None else Tensor._wrap(a) for a in op.backward_arrays(ctx, g.data))
        aliases = [p.reshape(p.shape) for p in ctx.parents]  # fresh nodes: the composite's own inputs
        y = op.composite(*aliases, **ctx.attrs)
        wanted = [a for a, p in zip(aliases, ctx.parents) if p.requires_grad]
        found = iter(autograd.run_backward([y], [g], retain_graph=True, create_graph=True,
                                           inputs=wanted, allow_unused=True, stop_at_inputs=True))
        return tuple(next(found) if p.requires_grad else None for p in ctx.parents)
