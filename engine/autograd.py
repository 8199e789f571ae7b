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

from engine.errors import ShapeError
from engine.grad_mode import state
from engine.tensor import Tensor


def _bad_kind(a):
    return "nan" if np.isnan(a).any() else "inf"


def toposort(roots, stop=(), constants=False):
    """Tensors reachable from `roots` through tensors that require grad, parents first.

    Tensors whose id is in `stop` are included but not looked through. With
    `constants`, tensors that do not require grad are included too (for pictures).
    """
    order, seen = [], set()
    stack = [(r, False) for r in roots if r.requires_grad or constants]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        node = t._ctx
        if node is not None and id(t) not in stop:
            for p in reversed(node.parents):  # reversed: parents are visited in argument order
                if (p.requires_grad or constants) and id(p) not in seen:
                    stack.append((p, False))
    return order


def _store_grad(t, g, owned, create_graph):
    """Accumulate `g` into `t.grad` the way PyTorch does (in place once it is ours)."""
    if t.grad is None:
        t.grad = g if owned or create_graph else Tensor._wrap(g.data.copy())
    elif create_graph or t.grad.requires_grad:
        t.grad = t.grad + g
    else:
        t.grad.data += g.data


def _check_version(node, out):
    if out._version and node.op.uses_output:
        raise RuntimeError(
            f"the output of '{node.op.name}' (shape {out.shape}) is needed by its backward but was "
            f"modified in place after it was computed; use an out-of-place op instead")
    if [p._version for p in node.parents] == node.versions:
        return
    for i, (p, v) in enumerate(zip(node.parents, node.versions)):
        if p._version != v:
            raise RuntimeError(
                f"a tensor needed by '{node.op.name}' backward (input {i}, shape {p.shape}) was "
                f"modified in place after it was used (version {v}, now {p._version}); "
                f"use an out-of-place op instead (x = x + y rather than x += y)")


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None, allow_unused=False,
                 stop_at_inputs=False):
    """Backpropagate from `roots` (seeded with `root_grads`).

    Without `inputs`, gradients are accumulated into the `.grad` of every leaf that
    requires grad. With `inputs`, nothing is accumulated: the gradients of those
    tensors are returned as a list (what `engine.grad` answers). `stop_at_inputs`
    does not look past the inputs, valid only when none of them depends on another.
    """
    order = toposort(roots, {id(t) for t in inputs} if stop_at_inputs else ())
    grads = {}  # id(tensor) -> [gradient Tensor, owned]; owned: nobody else holds its array
    for r, g in zip(roots, root_grads):
        if r.requires_grad:
            _add_grad(grads, r, g, False, create_graph)
    wanted = None if inputs is None else {id(t): i for i, t in enumerate(inputs)}
    found = [None] * len(inputs) if inputs is not None else None
    saved_mode = state.grad_enabled
    state.grad_enabled = create_graph
    try:
        for t in reversed(order):
            entry = grads.pop(id(t), None)
            if entry is None:
                continue
            g, owned = entry
            if wanted is not None and id(t) in wanted:
                found[wanted[id(t)]] = g
            node = t._ctx
            if node is None or (stop_at_inputs and id(t) in wanted):
                if wanted is None:
                    _store_grad(t, g, owned, create_graph)
                continue
            if t._retains_grad and wanted is None:
                _store_grad(t, g, False, create_graph)
            _backward_node(node, t, g, owned, grads, create_graph)
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


def _backward_node(node, out, g, g_owned, grads, create_graph):
    """Run one node's backward rule and hand each parent its share of the gradient."""
    if node.freed:
        raise RuntimeError(
            f"trying to backward through the graph a second time (at '{node.op.name}'): its saved "
            f"values were freed by the first backward; pass retain_graph=True to the first call")
    _check_version(node, out)
    pgs = node.op.backward(node, g, out) if not state.anomaly else _backward_unchecked(node, g, out)
    if type(pgs) is not tuple:
        pgs = (pgs,)
    shared = len(pgs) > 1 and _shared_arrays(pgs)
    for i, (p, pg) in enumerate(zip(node.parents, pgs)):
        if pg is None or not p.requires_grad:
            continue
        if state.anomaly:
            _check_backward(node, i, pg)
        a = pg.data
        # owned: no other tensor holds this array, so later contributions may be added in place
        owned = a.base is None and (a is not g.data or g_owned) and not (shared and id(a) in shared)
        if pg.shape != p.shape:
            pg = pg.sum_to(p.shape)
            owned = True
        if pg.data.dtype != p.data.dtype:
            pg = pg.astype(p.data.dtype)
            owned = True
        _add_grad(grads, p, pg, owned, create_graph)


def _backward_unchecked(node, g, out):
    """The node's backward rule with the per-op forward checks of anomaly mode off, so that a
    NaN or inf it makes is reported against this node by `_check_backward`, not an inner op."""
    state.anomaly = False
    try:
        return node.op.backward(node, g, out)
    finally:
        state.anomaly = True


def _shared_arrays(pgs):
    """ids of arrays handed to more than one parent (e.g. add passes g to both)."""
    if len(pgs) == 2:
        a, b = pgs
        return {id(a.data)} if a is not None and b is not None and a.data is b.data else ()
    seen, shared = set(), set()
    for pg in pgs:
        if pg is not None:
            k = id(pg.data)
            (shared if k in seen else seen).add(k)
    return shared


def _add_grad(grads, p, pg, owned, create_graph):
    entry = grads.get(id(p))
    if entry is None:
        grads[id(p)] = [pg, owned]
    elif create_graph:
        entry[0] = entry[0] + pg
    elif entry[1]:
        entry[0].data += pg.data
    else:
        entry[0] = Tensor._wrap(entry[0].data + pg.data)
        entry[1] = True


def _check_backward(node, i, pg):
    a = pg.data
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise FloatingPointError(
            f"detect_anomaly: '{node.op.name}' backward produced {_bad_kind(a)} in the gradient of its "
            f"input {i} (shape {a.shape}); the op was created at {node.where()}")


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
