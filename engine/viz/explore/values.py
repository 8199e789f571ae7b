"""How the explorer writes an array: small ones in full, bigger ones as shape and summary.

Every number on the page is formatted here, in Python, from the engine's own arrays;
the page only displays these strings.
"""
import numpy as np

from engine.viz.labels import number, shape_text, values_lines


def describe(a, max_values):
    """{'shape': '(4, 3) float32', 'lines': [...]} for an array of at most `max_values`
    elements, else {'shape': ..., 'stats': [['mean', '0.1'], ['std', ...], ['min', ...], ['max', ...]]}."""
    a = np.asarray(a)
    head = f"{shape_text(a.shape) if a.ndim else 'scalar'} {a.dtype}"
    if a.size <= max_values:
        return {"shape": head, "lines": values_lines(a)}
    return {"shape": head, "stats": stats(a)}


def stats(a):
    """[[name, text]] of mean, std, min and max (float64 arithmetic; an empty array has none)."""
    if a.size == 0:
        return []
    if a.dtype.kind not in "fiub":
        return []
    x = a.astype(np.float64, copy=False)
    return [["mean", number(float(x.mean()))], ["std", number(float(x.std()))],
            ["min", number(float(x.min()))], ["max", number(float(x.max()))]]


BUBBLE_VALUES = 4  # the bubble on the graph shows arrays of at most this many elements, else their shape


def bubble(a):
    """The few characters shown on the graph beside the current node: small values, else the shape."""
    a = np.asarray(a)
    return " ".join(values_lines(a)) if a.size <= BUBBLE_VALUES else shape_text(a.shape)


def short(a, max_values):
    """One line for a table cell: the values when small, else the shape and mean."""
    a = np.asarray(a)
    if a.size <= max_values:
        return " ".join(values_lines(a))
    text = shape_text(a.shape)
    if a.size and a.dtype.kind in "fiub":
        text += f" mean {number(float(a.astype(np.float64, copy=False).mean()))}"
    return text


def count(n, thing):
    """'1 op', '7 ops': a number of things, in words."""
    return f"{n} {thing}{'s' * (n != 1)}"
