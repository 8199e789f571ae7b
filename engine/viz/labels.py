"""HTML-like Graphviz labels: escaping any text, and the small tables nodes are drawn with.

Every piece of user text (parameter names, tensor names, scopes) goes through
`esc`, which makes it safe inside an HTML-like label: `& < > " '` become entities,
line breaks become `<BR/>`, other control characters are shown as `\\xNN`.
Backslashes and braces need nothing in HTML-like labels and are kept as they are.
"""
import html
import re
import textwrap

import numpy as np

# Graphviz measures text with the first of these fonts installed, and a browser shows an SVG with the
# first it has: naming DejaVu Sans (what Graphviz on Linux uses for Helvetica) first makes the two agree,
# where "Helvetica" alone was measured in DejaVu Sans and shown in the narrower Liberation Sans
FONT = "DejaVu Sans,Helvetica,sans-Serif"
MONO = "DejaVu Sans Mono"


def esc(text):
    """`text` made safe for an HTML-like label (one `<BR/>` per line break)."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append("<BR/>")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(html.escape(ch, quote=True))
    return "".join(out)


def keep_spaces(content):
    """Already-escaped HTML with the spaces an SVG viewer would drop made non-breaking (&#160;).

    Graphviz counts every space when it lays a label out, then writes each font run as its
    own SVG text element; a browser drops a run's leading and trailing spaces and collapses
    double ones, so "<B>forward view</B> of X" read "forward viewof X". A non-breaking space
    has the same width and is never dropped. Spaces inside tags are left alone.
    """
    parts = _TAGS.split(content)
    parts[::2] = [_LOOSE_SPACES.sub(lambda m: "&#160;" * len(m.group()), text) for text in parts[::2]]
    return "".join(parts)


_TAGS = re.compile(r"(<[^>]*>)")
_LOOSE_SPACES = re.compile(r"^ +| +$| {2,}")


def shape_text(shape):
    """A shape as Python writes it: (4, 3), (4,), ()."""
    return str(tuple(int(s) for s in shape))


def number(v):
    """A number with 4 significant digits."""
    return f"{v:.4g}"


def values_lines(a):
    """A small array as text lines, one row of a matrix per line."""
    a = np.asarray(a)
    if a.ndim == 0:
        return [number(a.item())]
    if a.dtype.kind == "b":
        a = a.astype(np.int8)
    text = np.array2string(a, separator=", ", max_line_width=60, threshold=10**6,
                           formatter={"float_kind": number, "int": str})
    return [" ".join(line.split()) for line in text.splitlines()]


def attrs_text(attrs, width=44):
    """The op's non-tensor arguments (arrays as their shape), wrapped into lines of at most `width` characters.

    Lines break after the commas between arguments; an argument longer than a line
    is broken inside. Nothing is cut off.
    """
    parts = []
    for k, v in attrs.items():
        if isinstance(v, np.ndarray):
            v = f"array{shape_text(v.shape)}"
        elif isinstance(v, tuple) and any(isinstance(x, np.ndarray) for x in v):
            v = "[" + ", ".join(f"array{shape_text(x.shape)}" if isinstance(x, np.ndarray) else repr(x)
                                for x in v) + "]"
        elif isinstance(v, np.dtype):
            v = str(v)
        else:
            v = repr(v)
        parts.append(f"{k}={v}")
    return "\n".join(textwrap.wrap(", ".join(parts), width, break_on_hyphens=False))


def cell(content, bgcolor=None, align="CENTER", size=None, color=None, bold=False, face=None, port=None):
    """One table row holding one cell; `content` is already-escaped HTML."""
    content = keep_spaces(content)
    if bold:
        content = f"<B>{content}</B>"
    font = []
    if size:
        font.append(f'POINT-SIZE="{size}"')
    if color:
        font.append(f'COLOR="{color}"')
    if face:
        font.append(f'FACE="{face}"')
    if font:
        content = f"<FONT {' '.join(font)}>{content}</FONT>"
    attrs = f' ALIGN="{align}" BALIGN="{align}"'
    if bgcolor:
        attrs += f' BGCOLOR="{bgcolor}"'
    if port:
        attrs += f' PORT="{port}"'
    return f"<TR><TD{attrs}>{content}</TD></TR>"


def table(rows, border_color="#555555", bgcolor="white", penwidth=1):
    """An HTML-like label: a one-column table of `cell` rows."""
    return (f'<<TABLE BORDER="{penwidth}" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
            f'COLOR="{border_color}" BGCOLOR="{bgcolor}">' + "".join(rows) + "</TABLE>>")


def value_rows(title, a, color=None):
    """Rows showing a small array under a title such as 'data' or 'grad'."""
    lines = values_lines(a)
    body = "<BR/>".join(esc(line) for line in lines)
    head = f"<I>{esc(title)}</I> "
    if len(lines) == 1:
        return [cell(head + body, align="LEFT", color=color, size=10, face=MONO)]
    return [cell(head, align="LEFT", color=color, size=10), cell(body, align="LEFT", color=color, size=10, face=MONO)]
