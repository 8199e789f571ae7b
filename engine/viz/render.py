"""Writing a picture to a file, and coping without Graphviz's `dot` program.

`save_graph(dot, 'graph.svg')` picks the format from the suffix (svg, png, pdf,
dot/gv for the DOT text). Without the `dot` program it writes the DOT text next
to the requested file and says in one line how to install Graphviz. Files are
written atomically and never through a link (`engine.files`).
"""
import os
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
            data = graphviz.pipe(dot.engine, fmt, source)
        except graphviz.ExecutableNotFound:
            data = None
    if data is None:
        dot_path = os.path.splitext(path)[0] + ".dot"
        atomic_write_bytes(dot_path, source)
        print(_install_hint(dot_path, path, fmt), file=sys.stderr)
        return dot_path
    atomic_write_bytes(path, data)
    return path
