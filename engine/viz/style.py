"""Colours with a meaning, and the legend that explains them.

One colour per kind of node, the same in every picture: blue parameters, green
inputs that require grad, grey data and constants (no gradient), amber ops,
orange the output; lilac boxes are collapsed modules, pale rectangles are modules,
red is gradient flowing backwards, and a grad check colours a leaf green, orange or
red by its relative error.
"""
from engine.viz.labels import FONT, cell, esc

ROLE_COLORS = {
    "param": "#C6DBF7",
    "input": "#CDEFC8",
    "data": "#E6E6E6",
    "op": "#FFE7A8",
    "output": "#FFB072",
}
ROLE_TITLES = {
    "param": "parameter",
    "input": "input (requires grad)",
    "data": "data / constant (no grad)",
    "op": "op and the tensor it made",
    "output": "output (the root)",
}
MODULE_FILL = "#F4F4FA"
MODULE_BORDER = "#9A9AC0"
BOX_COLOR = "#E3D7F5"
GRAD_COLOR = "#C0392B"
REDUCE_COLOR = "#F8CFCF"
DATA_EDGE = "#9E9E9E"
TEXT_DIM = "#666666"

# (upper bound of relative error, colour, word)
CHECK_LEVELS = ((1e-5, "#A8E0A0", "ok"), (1e-2, "#FFD27F", "suspect"), (float("inf"), "#F59A9A", "wrong"))


def check_level(rel_err):
    """(colour, word) for a gradient check's relative error."""
    for bound, color, word in CHECK_LEVELS:
        if rel_err <= bound:
            return color, word
    return CHECK_LEVELS[-1][1:]  # NaN compares false everywhere: it is wrong


def legend_rows(roles, boxes, reductions, checked):
    """Legend cells (already HTML) for the kinds of thing present in the picture."""
    items = [(ROLE_COLORS[r], ROLE_TITLES[r]) for r in ("param", "input", "data", "op", "output") if r in roles]
    if boxes:
        items.append((BOX_COLOR, "collapsed module (ops, params, shapes in/out)"))
    if reductions:
        items.append((REDUCE_COLOR, "gradient summed back to the input's shape"))
    if checked:
        items += [(c, f"grad check {w}: rel. error ≤ {b:g}" if b != float("inf") else f"grad check {w}")
                  for b, c, w in CHECK_LEVELS]
    cells = "".join(f'<TD BGCOLOR="{c}" BORDER="1" COLOR="#888888"><FONT POINT-SIZE="10">{esc(t)}</FONT></TD>'
                    for c, t in items)
    return cells


def caption(lines, legend):
    """The picture's title block: caption lines and a legend row of coloured cells."""
    rows = "".join(cell(line, align="LEFT") for line in lines)
    legend_table = (f'<TABLE BORDER="0" CELLSPACING="4" CELLPADDING="3"><TR>{legend}</TR></TABLE>'
                    if legend else "")
    if legend_table:
        rows += f'<TR><TD ALIGN="LEFT">{legend_table}</TD></TR>'
    return f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">{rows}</TABLE>>'


GRAPH_ATTRS = {"fontname": FONT, "fontsize": "12", "labelloc": "t", "labeljust": "l", "nodesep": "0.25",
               "ranksep": "0.35", "bgcolor": "white"}
NODE_ATTRS = {"fontname": FONT, "fontsize": "11", "shape": "plain"}
EDGE_ATTRS = {"fontname": FONT, "fontsize": "9", "color": "#444444", "arrowsize": "0.7"}
