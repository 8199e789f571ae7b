"""Summing the gradients that reach each tensor in one backward pass, without needless copies.

In the textbook walker a tensor's gradient is `grads[t] = grads.get(t, 0) + contribution`,
and a leaf keeps the result in `.grad`. `GradientSums` is that sum, made cheap for a
training step that moves megabytes of gradients: it adds into an array in place, and
hands a leaf its gradient without a copy, whenever the array is *owned*, meaning nothing
outside this pass can see it. A backward rule's result is owned unless it is a view of
another array, the upstream gradient passed straight through (as `add` does) while that
one was not owned, or one array given to two inputs. Seeds from the caller and gradients
handed back to the caller are never owned; a sum of two gradients is a new array, so it
is. On the GPT training step this keeps 18 parameter gradients (3.2 MB) from being copied
into `.grad` every step.

The gradients are Tensors, but this module sits below `engine/tensor.py`: new ones are
made with `g._wrap(array)`, Tensor's own constructor for an existing array.
"""


class GradientSums:
    """Per tensor, the sum of the gradients it has received so far in one backward pass.

    With `create_graph` the sums are recorded ops (never in place), so the backward
    pass can itself be differentiated.
    """

    __slots__ = ("_sums", "_create_graph", "_upstream", "_upstream_owned")

    def __init__(self, create_graph):
        self._sums = {}                      # tensor -> [its gradient so far (a Tensor), owned]
        self._create_graph = create_graph
        self._upstream = None                # the gradient `pop` handed out last, and whether it was owned
        self._upstream_owned = False

    def seed(self, t, g):
        """Start `t` (a root) with the caller's gradient `g`, which the pass must not add into."""
        self._sums[t] = [g, False]

    def add(self, t, g, raw, returned):
        """Add `g` to the gradient `t` has received; returns the sum so far.

        `g` is `raw`, one of the gradients `returned` by a backward rule, or a new array
        made from it (summed back to `t`'s shape).
        """
        entry = self._sums.get(t)
        if entry is None:
            self._sums[t] = [g, g is not raw or self._owns(raw, returned)]
            return g
        if self._create_graph:
            entry[0] = entry[0] + g
        elif entry[1]:
            entry[0].data += g.data
        else:
            entry[0] = g._wrap(entry[0].data + g.data)
            entry[1] = True
        return entry[0]

    def pop(self, t):
        """The whole gradient of `t` (None if it received none); `t` is no longer tracked."""
        entry = self._sums.pop(t, None)
        if entry is None:
            return None
        self._upstream, self._upstream_owned = entry
        return self._upstream

    def _owns(self, pg, pgs):
        """Is the array of `pg`, one of the gradients `pgs` a backward rule returned, owned?"""
        a = pg.data
        if a.base is not None or (a is self._upstream.data and not self._upstream_owned):
            return False
        copies = 0
        for q in pgs:
            if q is not None and q.data is a:
                copies += 1
        return copies == 1

    def keep(self, g):
        """`g`, the gradient `pop` just gave, now held outside the pass (`engine.grad`'s answer)."""
        self._upstream_owned = False  # so a backward rule passing it on (add does) gives no owned copy
        return g

    def write_grad(self, t, g):
        """Accumulate `g`, the gradient `pop` just gave for `t`, into `t.grad` as PyTorch does."""
        if t.grad is None:
            t.grad = g if self._upstream_owned or self._create_graph else g._wrap(g.data.copy())
            self._upstream_owned = False  # t.grad holds the array now
        elif self._create_graph or t.grad.requires_grad:
            t.grad = t.grad + g
        else:
            t.grad.data += g.data
