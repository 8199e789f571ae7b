"""The update phase: what the optimizer does with the gradients, parameter by parameter.

The user's optimizer and parameters are never touched: `ShadowOptimizer` copies the
optimizer (its kind, hyperparameters and state, through `state_dict`) onto clones of
its parameters, hands the clones the traced gradients and steps that copy. An
optimizer that explains its rule (`explain_step`, see optim) shows it in symbols and
in numbers; any other shows the value, the gradient and the new value.
"""
import copy
import inspect
from contextlib import contextmanager

import numpy as np

from engine.tensor import Tensor
from engine.viz.explore.steps import field, step
from engine.viz.explore.values import bubble, describe, short

COLUMNS = ["parameter", "value", "gradient", "new value"]


class ShadowOptimizer:
    """A private copy of `optimizer` over clones of its parameters, stepped instead of it."""

    def __init__(self, optimizer, error):
        name = type(optimizer).__name__
        if not hasattr(optimizer, "param_groups") or not hasattr(optimizer, "state_dict"):
            raise error(f"explore: optimizer must be an optim.Optimizer (param_groups, state_dict), not {name}")
        closure = inspect.signature(optimizer.step).parameters.get("closure")
        if closure is not None and closure.default is inspect.Parameter.empty:
            raise error(f"explore: {name} needs a closure (it evaluates the loss several times per step), which "
                        f"the update phase cannot show one step at a time; use a first-order optimizer such as "
                        f"SGD or Adam, or leave optimizer out")
        self.originals = [p for group in optimizer.param_groups for p in group["params"]]
        self.clones = [Tensor(p.data.copy(), requires_grad=True) for p in self.originals]
        memo = {id(p): c for p, c in zip(self.originals, self.clones)}
        self.optimizer = copy.deepcopy(optimizer, memo)
        self.optimizer.load_state_dict(optimizer.state_dict())   # the state, keyed by the clones
        self.name = name

    def step(self, grads):
        """Step the copy with `grads` ({id(original): ndarray or None}); [(original, before, grad, quantities,
        rule, after)] for each parameter that had a gradient, in the optimizer's order."""
        before = []
        for p, c in zip(self.originals, self.clones):
            g = grads.get(id(p))
            c.grad = None if g is None else Tensor(np.array(g, copy=True))
            before.append(c.data.copy())
        explain = getattr(self.optimizer, "explain_step", None)
        described = {}
        if explain is not None:
            described = {id(e.param): e for e in explain()}
        else:
            self.optimizer.step()
        done = []
        for p, c, b in zip(self.originals, self.clones, before):
            if c.grad is None:
                continue
            e = described.get(id(c))
            done.append((p, b, c.grad.data, e.quantities if e else [], e.rule if e else None, c.data.copy()))
        return done

    @contextmanager
    def values_in(self):
        """Let the original parameters hold the copy's current values while the block runs (restored after)."""
        saved = [p.data for p in self.originals]
        try:
            for p, c in zip(self.originals, self.clones):
                p.data = c.data.copy()
            yield
        finally:
            for p, data in zip(self.originals, saved):
                p.data = data


def update_steps(shadow, graph, layout, trace, name_of, max_values):
    """The update phase as steps: one per parameter the optimizer changed, then the new values."""
    steps, after_all = [], []
    for p, before, grad, quantities, rule, after in shadow.step({id(p): trace.grad(p) for p in shadow.originals}):
        node = graph.node_of(p)
        name = name_of(p) if node is not None else "a parameter outside the graph"
        item = layout.item_of(node).key if node is not None else None
        described = rule.replace("; ", "\n") if rule else (f"not described by {shadow.name}: the numbers are its "
                                                           f"step on a copy")
        fields = [field("the rule", text=described, tone="formula"),
                  field(f"θ = {name}", value=describe(before, max_values), tone="value"),
                  field(f"g = ∂{trace.root_label}/∂{name}", value=describe(grad, max_values), tone="grad")]
        fields += [field(symbol, value=describe(np.asarray(value), max_values), tone="formula")
                   for symbol, value in quantities]
        fields.append(field(f"new {name}", value=describe(after, max_values), tone="new"))
        after_all.append(field(name, value=describe(after, max_values), tone="new"))
        title = f"{name}: one {shadow.name} step"
        steps.append(step("update", "param", title, item=item, fields=fields, bubble=bubble(after),
                          row=[name, short(before, max_values), short(grad, max_values), short(after, max_values)],
                          flow="update"))
    steps.append(step("update", "updated", f"After one {shadow.name} step: the parameters' new values",
                      fields=after_all, notes=["the user's own model and optimizer are unchanged: this step ran "
                                               "on copies"],
                      row=["done", f"{len(after_all)} parameters", "", ""], flow="update"))
    return steps
