"""Walking a recorded graph backwards: the chain rule, once per edge.

`run_backward`: an iterative depth-first topological sort (no recursion, any depth),
then one pass from the output to the leaves. Each node's gradient is the sum of what
its consumers sent it; a parent that was broadcast in the forward pass gets its
gradient summed back to its own shape here, once, for every op. Without
`create_graph` the pass runs under no-grad, so the backward rules (written with Tensor
operations) cost about what plain numpy would. Recording the graph is the op layer's
job (`engine/ops/base.py`).
"""
import numpy as np

from engine import anomaly
from engine.errors import ShapeError
from engine.grad_mode import state
from engine.kernels.gradient_sums import GradientSums
from engine.tensor import Tensor


def toposort(roots, stop=(), constants=False):
    """Tensors reachable from `roots` through tensors that require grad, parents first.

    Tensors in `stop` are included but not looked through. With `constants`, tensors
    that do not require grad are included too (for pictures). (Sets and dicts of
    tensors here and in the walker go by identity: a tensor hashes as its object.)
    """
    order, seen = [], set()
    stack = [(r, False) for r in roots if r.requires_grad or constants]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if t in seen:
            continue
        seen.add(t)
        stack.append((t, True))
        node = t._ctx
        if node is not None and t not in stop:
            for p in reversed(node.parents):  # reversed: parents are visited in argument order
                if (p.requires_grad or constants) and p not in seen:
                    stack.append((p, False))
    return order


@anomaly.without_numpy_warnings  # a gradient of inf or nan (1/(2·√0), say) arrives silently, as in PyTorch
def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None, allow_unused=False,
                 stop_at_inputs=False, observer=None):
    """Backpropagate from `roots` (seeded with `root_grads`).

    Without `inputs`, gradients are accumulated into the `.grad` of every leaf that
    requires grad. With `inputs`, nothing is accumulated: the gradients of those
    tensors are returned as a list (what `engine.grad` answers; `inputs=[]` runs the
    pass and keeps nothing). `stop_at_inputs` does not look past the inputs, valid only
    when none of them depends on another. `observer(node, i, upstream, raw,
    contribution, total)`, if given, is called once per edge, as parent `i` of `node`
    receives its share: `raw` is what the backward rule returned, `contribution` the
    same summed back to the parent's shape, `total` the parent's gradient so far
    (`trace_backward` builds its table this way).
    """
    order = toposort(roots, set(inputs) if stop_at_inputs else ())
    grads = GradientSums(create_graph)  # per tensor, the sum of the gradients it has received (+=, made cheap)
    for r, g in zip(roots, root_grads):
        if r.requires_grad:
            grads.seed(r, g)
    wanted = None if inputs is None else {t: i for i, t in enumerate(inputs)}
    found = None if inputs is None else [None] * len(inputs)
    saved_mode = state.grad_enabled
    state.grad_enabled = create_graph  # record the backward pass only to differentiate it again
    try:
        for t in reversed(order):  # consumers before producers: t's gradient is complete when t comes
            g = grads.pop(t)
            if g is None:
                continue  # t does not lead to the roots
            if wanted is not None and t in wanted:
                found[wanted[t]] = grads.keep(g)
            node = t._ctx
            if node is None or (stop_at_inputs and t in wanted):
                if wanted is None:
                    grads.write_grad(t, g)  # a leaf keeps its gradient
                continue
            if t._retains_grad and wanted is None:
                grads.write_grad(t, g)
            if node.freed or node.seq < state.last_change:  # freed, or a tensor was changed in place since
                _check_usable(node, t)
            # the chain rule at this node: its backward rule gives each parent upstream x local derivative
            pgs = node.op.backward(node, g, t) if not state.anomaly else anomaly.checked_backward(node, g, t)
            if type(pgs) is not tuple:
                pgs = (pgs,)
            for i, (p, pg) in enumerate(zip(node.parents, pgs)):
                if pg is None or not p.requires_grad:
                    continue
                contribution = pg
                if pg.data.shape != p.data.shape:  # p was broadcast in the forward pass: sum over the copies
                    contribution = contribution.sum_to(p.data.shape)
                if contribution.data.dtype != p.data.dtype:
                    contribution = contribution.astype(p.data.dtype)
                total = grads.add(p, contribution, pg, pgs)
                if observer is not None:
                    observer(node, i, g, pg, contribution, total)
            if not retain_graph:
                node.saved = None
                node.freed = True
    finally:
        state.grad_enabled = saved_mode
    if found is not None and not allow_unused:
        for i, g in enumerate(found):
            if g is None:
                raise RuntimeError(
                    f"input {i} (shape {inputs[i].shape}) was not used to compute the outputs; "
                    f"pass allow_unused=True to get None for it")
    return found


def _check_usable(node, out):
    """Refuse a node whose saved values were freed, or whose inputs or output changed in place since it ran."""
    if node.freed:
        raise RuntimeError(
            f"trying to backward through the graph a second time (at '{node.op.name}'): its saved "
            f"values were freed by the first backward; pass retain_graph=True to the first call")
    if out._changed_at > node.seq and node.op.uses_output:
        raise RuntimeError(
            f"the output of '{node.op.name}' (shape {out.shape}) is needed by its backward but was "
            f"modified in place after it was computed; use an out-of-place op instead")
    for i, p in enumerate(node.parents):
        if p._changed_at > node.seq:
            raise RuntimeError(
                f"a tensor needed by '{node.op.name}' backward (input {i}, shape {p.shape}) was "
                f"modified in place after it was used (it is at version {p._version} now); "
                f"use an out-of-place op instead (x = x + y rather than x += y)")


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def _seed_grads(outputs, grad_outputs):
    seeds = []
    for i, out in enumerate(outputs):
        g = None if grad_outputs is None else grad_outputs[i]
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(
                    f"grad can be created implicitly only for scalar outputs; output {i} has shape "
                    f"{out.shape}: pass a gradient of that shape (e.g. ones), or reduce it first (.sum())")
            g = Tensor._wrap(np.ones(out.shape, dtype=out.data.dtype))
        elif not isinstance(g, Tensor):
            g = Tensor(np.asarray(g, dtype=out.data.dtype))
        if g.shape != out.shape:
            raise ShapeError(f"gradient shape {g.shape} does not match output shape {out.shape}")
        seeds.append(g)
    return seeds


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a list of Tensors.

    Like `torch.autograd.grad`: `.grad` fields are left alone. With
    `create_graph=True` the backward pass is itself recorded, so the results can be
    differentiated again (Hessians, Hessian-vector products).
    """
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    grad_outputs = _as_list(grad_outputs)
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"output {i} does not require grad and has no graph to differentiate")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"input {i} (shape {t.shape}) does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    return run_backward(outputs, _seed_grads(outputs, grad_outputs), retain_graph, create_graph,
                        inputs=inputs, allow_unused=allow_unused)


def backward(tensor, grad=None, retain_graph=False, create_graph=False):
    """Accumulate d tensor / d leaf into every leaf's `.grad` (see `Tensor.backward`)."""
    if not tensor.requires_grad:
        raise RuntimeError(
            "backward() on a tensor that does not require grad: no input of it had "
            "requires_grad=True (or it was computed under no_grad())")
    seeds = _seed_grads([tensor], None if grad is None else [grad])
    run_backward([tensor], seeds, retain_graph or create_graph, create_graph)
