"""`explore(root, params)`: watch the forward and the backward pass, step by step.

    from engine.viz import explore
    page = explore(loss, params=model)    # before loss.backward(): the graph is only read
    page.save("backprop.html")            # one self-contained file; open it in a browser
    page                                  # in Jupyter: the same explorer, inline

With an optimizer a third phase shows the update, and with a function that computes
the loss the page runs whole iterations of the training loop:

    explore(lambda: loss_of(model), params=model, optimizer=opt, iterations=3)

Every number on the page is computed here by the engine (the recorded forward
values, `trace_backward`'s rows, the optimizer's step on copies) and written into
the page; the browser only shows them.
"""
import os
from contextlib import nullcontext
from pathlib import Path

from engine.files import atomic_write_bytes
from engine.tensor import Tensor
from engine.viz.explore import page, picture
from engine.viz.explore.backward import COLUMNS as BACKWARD_COLUMNS
from engine.viz.explore.passes import ExploreError, namer, read_pass
from engine.viz.explore.steps import field, step
from engine.viz.explore.update import COLUMNS as UPDATE_COLUMNS
from engine.viz.explore.update import ShadowOptimizer, update_steps
from engine.viz.hints import DepthHint
from engine.viz.labels import number

FORWARD_COLUMNS = ["tensor", "op", "value"]
CHECK_COLUMNS = ["loss", "previous", "converged?"]


class Explorer:
    """A walk through a graph's forward and backward pass (and update), ready to show.

    `save(path)` writes a self-contained HTML page; in Jupyter the object displays
    itself (`_repr_html_`). `steps` lists what each step of the page shows (plain
    dicts, see `engine.viz.explore.steps`), each with the index of its `pass`
    (one pass per iteration of the training loop).
    """

    def __init__(self, passes, title, loop=False):
        self.title = title
        self._passes = passes
        self._loop = loop
        self.steps = []
        self._pass_info = []
        for i, p in enumerate(passes):
            self._pass_info.append({"first": len(self.steps), "count": len(p.steps), "picture": i,
                                    "drawn": p.svg is not None, "size": list(p.size), "nodes": p.nodes})
            self.steps += [dict(s, **{"pass": i}) for s in p.steps]

    @property
    def notes(self):
        """What the page says it left out or changed (collapsed modules, a missing picture, ...)."""
        seen = []
        for p in self._passes:
            seen += [n for n in p.notes if n not in seen]
        return seen

    def _data(self):
        first = self._passes[0]
        graph = first.graph
        ops = sum(1 for n in graph.nodes if not n.is_leaf)
        counts = {}
        for s in first.steps:
            counts[s["phase"]] = counts.get(s["phase"], 0) + 1
        phases = ", ".join(f"{n} {phase} step{'s' * (n != 1)}" for phase, n in counts.items())
        subtitle = f"{ops} ops, {len(graph.nodes) - ops} leaves; {phases}"
        if len(self._passes) > 1:
            subtitle += f" in each of {len(self._passes)} iterations"
        return {"title": self.title, "subtitle": subtitle, "notes": self.notes, "passes": self._pass_info,
                "steps": self.steps, "flow": self._loop,
                "captions": picture.captions(graph, first.layout, first.trace.root_label),
                "columns": {"forward": FORWARD_COLUMNS, "check": CHECK_COLUMNS, "backward": BACKWARD_COLUMNS,
                            "update": UPDATE_COLUMNS}}

    def _pictures(self):
        return [p.svg for p in self._passes]

    def html(self):
        """The whole page as a string."""
        return page.document(self._data(), self._pictures(), self.title)

    def save(self, path):
        """Write the page to `path` (atomically, never through a link) and return the path as a `pathlib.Path`."""
        atomic_write_bytes(path, self.html().encode("utf-8", errors="backslashreplace"))
        return Path(os.fspath(path))

    def _repr_html_(self):
        """The explorer for a notebook cell: markup, styles and script, with element ids of its own."""
        return page.fragment(self._data(), self._pictures(), standalone=False)

    def __len__(self):
        return len(self.steps)

    def __repr__(self):
        counts = {}
        for s in self.steps:
            counts[s["phase"]] = counts.get(s["phase"], 0) + 1
        parts = ", ".join(f"{n} {phase}" for phase, n in counts.items())
        return f"<Explorer '{self.title}': {len(self.steps)} steps ({parts}); .save('backprop.html') writes the page>"


def _check_step(loss, previous, tol):
    """converged? |J - previous J| < tol: the flowchart's question, answered with the loss values."""
    value = float(loss.data.reshape(-1)[0]) if loss.data.size == 1 else None
    if value is None:
        answer, why = "no", "the output is not a single number, so there is no loss to compare"
    elif previous is None:
        answer, why = "no", "this is the first loss: there is nothing to compare it with yet"
    elif tol is None:
        answer, why = "no", f"the loss changed by {number(abs(value - previous))}; no tolerance was given (tol=None)"
    else:
        change = abs(value - previous)
        answer = "yes" if change < tol else "no"
        why = f"|J - previous J| = {number(change)} {'<' if change < tol else '≥'} tol = {tol:g}"
    fields = [field("loss J", text="—" if value is None else number(value), tone="value"),
              field("previous J", text="—" if previous is None else number(previous)),
              field("converged?", text=f"{answer}: {why}")]
    nxt = "stop: the parameters are the answer" if answer == "yes" else "compute the gradient and update"
    return step("check", "check", f"Converged? {answer}: {nxt}", fields=fields,
                row=["—" if value is None else number(value), "—" if previous is None else number(previous), answer],
                flow="check"), value, answer == "yes"


def explore(root, params=None, optimizer=None, *, depth=None, iterations=1, tol=None, max_nodes=300,
            max_values=16, title=None, depth_hint=DepthHint()):
    """Walk through the forward and backward pass that made `root`; returns an `Explorer`.

    `root` is the output (a loss), explored before `backward()` frees its graph; nothing
    is written to `.grad` and the graph is left as it was. `params` (a dict name ->
    Tensor, or an nn.Module) names the leaves. `depth`: None draws every op, an int
    collapses each module of that nesting depth into one box (one step forward, one
    step back), 'auto' chooses as `draw_graph` does; a graph of more than `max_nodes`
    nodes is collapsed further, or not drawn, and the page says so. Arrays of at most
    `max_values` elements are shown in full, bigger ones as shape and summary.
    `depth_hint` (a `DepthHint`) words the page's advice on depth as the caller spells
    it: `depth=None` by default, `--depth all` for the command line.

    `optimizer` adds the training loop's other phases: 'converged?' and the update
    θ ← θ − step(∇J(θ)), parameter by parameter, computed on copies (the optimizer and
    the parameters are left as they are). With `iterations` > 1, `root` is a function
    of no arguments that computes the loss; each iteration runs it again with the
    parameters the previous update made, until `iterations` or until the loss changes
    by less than `tol`.
    """
    compute = root if callable(root) and not isinstance(root, Tensor) else None
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ExploreError(f"explore: iterations must be a whole number >= 1, not {iterations!r}")
    if iterations > 1 and (compute is None or optimizer is None):
        raise ExploreError("explore: iterations > 1 needs an optimizer and, as root, a function of no arguments "
                           "that computes the loss (e.g. lambda: loss_of(model))")
    shadow = ShadowOptimizer(optimizer, ExploreError) if optimizer is not None else None
    passes, previous = [], None
    for i in range(iterations):
        with shadow.values_in() if shadow is not None and i > 0 else nullcontext():
            out = compute() if compute is not None else root
            current = read_pass(out, params, depth, max_nodes, max_values, depth_hint)
            if shadow is None:
                passes.append(current)
                break
            check, previous, converged = _check_step(out, previous, tol)
            forward = [s for s in current.steps if s["phase"] == "forward"]
            if i > 0:
                forward[0] = dict(forward[0], flow="loss", title="The parameters now hold the values of the last "
                                                                 "update; the forward pass runs again")
            if converged:
                current.steps = forward + [check]
                passes.append(current)
                break
            backward = [s for s in current.steps if s["phase"] == "backward"]
            current.steps = forward + [check] + backward + update_steps(
                shadow, current.graph, current.layout, current.trace, namer(current.graph, current.trace),
                max_values)
            passes.append(current)
    if title is None:
        model = f" of {type(params).__name__}" if hasattr(params, "named_parameters") else ""
        title = f"Backprop through {passes[0].trace.root_label}{model}"
    return Explorer(passes, title, loop=shadow is not None)
