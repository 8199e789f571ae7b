"""`explore(root, params)`: watch the forward and the backward pass, step by step.

    from engine.viz import explore
    page = explore(loss, params=model)    # before loss.backward(): the graph is only read
    page.save("backprop.html")            # one self-contained file; open it in a browser
    page                                  # in Jupyter: the same explorer, inline

Every number on the page is computed here by the engine (the recorded forward
values and `trace_backward`'s rows) and written into the page; the browser only
shows them.
"""
from engine.viz.explore import page
from engine.viz.explore.backward import COLUMNS as BACKWARD_COLUMNS
from engine.viz.explore.passes import read_pass

FORWARD_COLUMNS = ["tensor", "op", "value"]


class Explorer:
    """A walk through one graph's forward and backward pass, ready to show.

    `save(path)` writes a self-contained HTML page; in Jupyter the object displays
    itself (`_repr_html_`). `steps` lists what each step of the page shows (plain
    dicts, see `engine.viz.explore.steps`).
    """

    def __init__(self, passes, title):
        self.title = title
        self._passes = passes
        self.steps = []
        self._pass_info = []
        for i, p in enumerate(passes):
            self._pass_info.append({"first": len(self.steps), "count": len(p.steps), "picture": i,
                                    "drawn": p.svg is not None, "size": list(p.size), "nodes": p.nodes})
            self.steps += [dict(s, **{"pass": i}) for s in p.steps]

    @property
    def notes(self):
        """What the page says it left out or changed (collapsed modules, a missing picture, ...)."""
        return [n for p in self._passes for n in p.notes]

    def _data(self):
        first = self._passes[0]
        graph = first.graph
        ops = sum(1 for n in graph.nodes if not n.is_leaf)
        counts = {}
        for s in first.steps:
            counts[s["phase"]] = counts.get(s["phase"], 0) + 1
        phases = ", ".join(f"{n} {phase} steps" for phase, n in counts.items())
        subtitle = f"{ops} ops, {len(graph.nodes) - ops} leaves; {phases}"
        return {"title": self.title, "subtitle": subtitle, "notes": self.notes, "passes": self._pass_info,
                "steps": self.steps, "columns": {"forward": FORWARD_COLUMNS, "backward": BACKWARD_COLUMNS},
                "flow": False}

    def _pictures(self):
        return [p.svg for p in self._passes]

    def html(self):
        """The whole page as a string."""
        return page.document(self._data(), self._pictures(), self.title)

    def save(self, path):
        """Write the page to `path` (atomically) and return the path as a `pathlib.Path`."""
        return page.write_atomically(path, self.html())

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


def explore(root, params=None, *, depth=None, max_nodes=300, max_values=16, title=None):
    """Walk through the forward and backward pass that made `root`; returns an `Explorer`.

    `root` is the output (a loss), explored before `backward()` frees its graph; nothing
    is written to `.grad` and the graph is left as it was. `params` (a dict name ->
    Tensor, or an nn.Module) names the leaves. `depth`: None draws every op, an int
    collapses each module of that nesting depth into one box (one step forward, one
    step back), 'auto' chooses as `draw_graph` does; a graph of more than `max_nodes`
    nodes is collapsed further, or not drawn, and the page says so. Arrays of at most
    `max_values` elements are shown in full, bigger ones as shape and summary.
    """
    first = read_pass(root, params, depth, max_nodes, max_values)
    if title is None:
        model = f" of {type(params).__name__}" if hasattr(params, "named_parameters") else ""
        title = f"Backprop through {first.trace.root_label}{model}"
    return Explorer([first], title)
