"""Tensors and traced backward passes as compact HTML, for notebooks (`_repr_html_`).

Plain functions of arrays and text: the engine's classes call them, and nothing here
imports the rest of the engine, the pictures or Graphviz. Every piece of text is
escaped; the styles are inline, so a notebook's own styles are left alone.
"""
import html

import numpy as np

MAX_SHOWN = 64  # arrays of at most this many elements are shown in full

_BOX = ("display:inline-block;font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;"
        "font-size:12.5px;line-height:1.35;border:1px solid #d7dae3;border-radius:6px;padding:4px 8px;"
        "background:#fafbfd;color:#1f2330")
_HEAD = "color:#6b7080"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #eceef4;white-space:nowrap"


def _number(v):
    return f"{v:.4g}"


def array_text(a):
    """The values of a small array, one matrix row per line, 4 significant digits."""
    if a.ndim == 0:
        return _number(a.item()) if a.dtype.kind in "fc" else str(a.item())
    formatter = {"float_kind": _number} if a.dtype.kind == "f" else None
    return np.array2string(a, separator=", ", threshold=MAX_SHOWN, formatter=formatter, max_line_width=100)


def summary_text(a):
    """mean, std, min and max of a big array (float64 arithmetic)."""
    x = np.asarray(a, dtype=np.float64)
    return f"mean {_number(x.mean())}  std {_number(x.std())}  min {_number(x.min())}  max {_number(x.max())}"


def tensor_html(data, requires_grad, op_name, name, has_grad):
    """A tensor as a small card: name, shape, dtype, how it was made, and its values or a summary."""
    facts = [f"shape {tuple(data.shape)}", str(data.dtype)]
    if op_name:
        facts.append(f"grad_fn={op_name}")
    elif requires_grad:
        facts.append("requires_grad")
    if has_grad:
        facts.append(".grad set")
    title = f"Tensor {name}" if name else "Tensor"
    if data.size <= MAX_SHOWN or data.dtype.kind not in "fiub" or data.size == 0:
        body = f'<pre style="margin:2px 0 0">{html.escape(array_text(data))}</pre>'
    else:
        body = f'<div style="margin-top:2px">{html.escape(summary_text(data))}</div>'
    return (f'<div style="{_BOX}"><b>{html.escape(title)}</b> '
            f'<span style="{_HEAD}">{html.escape(" · ".join(facts))}</span>{body}</div>')


def table_html(caption, head, rows):
    """A table of text cells under a caption line."""
    th = "".join(f'<th style="{_CELL};{_HEAD}">{html.escape(h)}</th>' for h in head)
    body = "".join("<tr>" + "".join(f'<td style="{_CELL}">{html.escape(c)}</td>' for c in row) + "</tr>"
                   for row in rows)
    return (f'<div style="{_BOX}"><div style="{_HEAD};margin-bottom:4px">{html.escape(caption)}</div>'
            f'<table style="border-collapse:collapse"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>')
