"""Writing a picture to a file, and coping without Graphviz's `dot` program.

`save_graph(dot, 'graph.svg')` picks the format from the suffix (svg, png, pdf,
dot/gv for the DOT text). Without the `dot` program it writes the DOT text next
to the requested file and says in one line how to install Graphviz. Files are
written atomically and never through a link (`engine.files`).

An SVG is shown by a browser, which draws the text in the font Graphviz named but
not at the width Graphviz measured: Graphviz sizes a box by its text's width in
whole pixels per letter (hinted at 96 dpi, then rounded to whole points), a browser
lays the same letters out at their exact widths, a few percent wider (digits at 10
points by 6%), so text ran past its box. `fitted_svg` gives every text the width
Graphviz measured (`textLength`).
"""
import html
import json
import os
import re
import shutil
import sys

import graphviz

from engine.files import atomic_write_bytes

_TEXT_FORMATS = ("dot", "gv")


def _install_hint(dot_path, path, fmt):
    return (f"Graphviz's `dot` program is not installed, so {path} was not drawn; wrote the DOT text to "
            f"{dot_path} instead. Install it (apt-get install graphviz, or brew install graphviz) and run: "
            f"dot -T{fmt} {dot_path} -o {path}")


def save_graph(dot, path, format=None):
    """Write `dot` (a graphviz.Digraph) to `path` as svg, png, pdf or DOT text; returns the path written.

    `format` defaults to the suffix of `path`. When the `dot` program is missing,
    the DOT text goes to `path` with a `.dot` suffix, one line on stderr says how to
    install Graphviz, and that `.dot` path is returned.
    """
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".") or "svg").lower()
    source = dot.source.encode("utf-8", errors="backslashreplace")  # a lone surrogate in a name is written as \udXXX
    if fmt in _TEXT_FORMATS:
        atomic_write_bytes(path, source)
        return path
    data = None
    if shutil.which("dot") is not None:
        try:
            data = fitted_svg(dot.engine, source) if fmt == "svg" else graphviz.pipe(dot.engine, fmt, source)
        except graphviz.ExecutableNotFound:
            data = None
    if data is None:
        dot_path = os.path.splitext(path)[0] + ".dot"
        atomic_write_bytes(dot_path, source)
        print(_install_hint(dot_path, path, fmt), file=sys.stderr)
        return dot_path
    atomic_write_bytes(path, data)
    return path


_GROUP = re.compile(rb'<g id="[^"]*" class="(graph|cluster|node|edge)"[^>]*>\s*<title>(.*?)</title>', re.S)
_TEXT = re.compile(rb"<text [^>]*>(.*?)</text>", re.S)
_LABELS = ("_ldraw_", "_xldraw_", "_hldraw_", "_tldraw_")  # in the order Graphviz draws an item's labels


def _measured(layout):
    """{(kind, title, k): [(text, width)]}: what Graphviz measured of each label text of the k-th item
    of that kind and title, in drawing order, from its JSON output."""
    def texts(item):
        return [(op["text"], op["width"]) for key in _LABELS for op in item.get(key, ()) if op["op"] == "T"]

    objects = layout.get("objects", [])
    items = [("graph", layout.get("name", ""), texts(layout))]
    items += [("cluster" if "nodes" in o else "node", o["name"], texts(o)) for o in objects]
    items += [("edge", f'{objects[e["tail"]]["name"]}->{objects[e["head"]]["name"]}', texts(e))
              for e in layout.get("edges", [])]
    measured, seen = {}, {}
    for kind, title, found in items:
        k = seen[kind, title] = seen.get((kind, title), -1) + 1
        measured[kind, title, k] = found
    return measured


def fitted_svg(engine, source):
    """Graphviz's SVG of the DOT `source` (bytes) with each text drawn as wide as Graphviz measured it.

    Each `<text>` gets `textLength`, the width Graphviz laid it out with (read from its
    JSON output of the same graph), so a browser neither lets it run past its box nor
    leaves a gap before the next piece of the line. An item whose texts do not match
    the JSON one for one is left as it was.
    """
    svg = graphviz.pipe(engine, "svg", source)
    measured = _measured(json.loads(graphviz.pipe(engine, "json", source)))
    starts = list(_GROUP.finditer(svg))
    out, seen = [svg[:starts[0].start()] if starts else svg], {}
    for i, group in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(svg)
        kind, title = group.group(1).decode(), html.unescape(group.group(2).decode())
        k = seen[kind, title] = seen.get((kind, title), -1) + 1
        body = svg[group.start():end]
        texts = list(_TEXT.finditer(body))
        widths = measured.get((kind, title, k), [])
        if [html.unescape(t.group(1).decode()) for t in texts] == [text for text, _ in widths]:
            for t, (_, width) in zip(reversed(texts), reversed(widths)):
                fit = f'<text textLength="{width:g}" lengthAdjust="spacingAndGlyphs" '.encode()
                body = body[:t.start()] + fit + body[t.start() + len(b"<text "):]
        out.append(body)
    return b"".join(out)
