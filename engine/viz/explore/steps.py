"""The shape of a step: what the page shows at one position of the walk-through.

A step is a plain dict, serialised into the page as JSON:

- `phase`: 'forward', 'check' (converged?), 'backward' or 'update'; `kind` says which
  sort of step within the phase (leaves, op, box, seed, edge, grads, param, ...);
- `title`, `fields` (rows of the panel: a label and an array described by
  `values.describe`, or a text), `notes` (sentences under them), `bubble` (the
  short text shown on the graph beside the current node or arrow);
- `item` (the key of the current node or module box), `lights` (keys lit from this
  step on), `edges` (arrows highlighted now and drawn as done afterwards), `grads`
  ([key, text] gradient totals that nodes hold from this step on);
- `row` (the cells of this step's row in the table) and `flow` (the stage of the
  training-loop strip: init, loss, check, grad, update).

All text is made in Python from the engine's arrays; the page never computes a number.
"""


def field(label, value=None, text=None, tone=None):
    """One row of the panel: `label` and either an array description (`value`) or a `text`."""
    out = {"label": label}
    if value is not None:
        out["value"] = value
    if text is not None:
        out["text"] = text
    if tone:
        out["tone"] = tone
    return out


def step(phase, kind, title, *, item=None, lights=(), edges=(), grads=(), fields=(), notes=(), bubble="",
         row=(), flow=None):
    """A step dict (see the module docstring)."""
    return {"phase": phase, "kind": kind, "title": title, "item": item, "lights": list(lights),
            "edges": list(edges), "grads": [list(g) for g in grads], "fields": list(fields), "notes": list(notes),
            "bubble": bubble, "row": list(row), "flow": flow}
