"""The graph as `draw_graph` lays it out, as inline SVG whose nodes and edges the page can find.

Graphviz names each node's SVG group by a `<title>` holding the node's key (`n3`, or
`m0` for a collapsed module) and each edge's by `src->dst`. Here the titles become
`data-node="n3"` and `data-edge="n0->n3#0"` attributes (`#k`: the k-th arrow between
the same two items, in the order `draw_graph` declared them) and every `id` goes, so
two explorers on one notebook page cannot collide.
"""
import functools
import html
import re
import shutil
import subprocess

import graphviz

from engine.viz.clusters import Box
from engine.viz.draw import arrow_keys, draw_graph
from engine.viz.edges import forward_edges
from engine.viz.labels import FONT
from engine.viz.render import fitted_svg

_GROUP = re.compile(r'<g id="[^"]*" class="(node|edge|cluster)">\s*<title>(.*?)</title>', re.S)
_IDS = re.compile(r'\s(id|xlink:title|xlink:href)="[^"]*"')
_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


class NoPicture(Exception):
    """The graph could not be drawn (no `dot` program); the message says why."""


def edge_key(layout, child, parent, index):
    """The `data-edge` key of the arrow for input `index` (GNode `parent`) of GNode `child`;
    None when both sit inside the same collapsed module (no arrow is drawn there)."""
    src, dst = layout.item_of(parent), layout.item_of(child)
    if src is dst:
        return None
    if isinstance(src, Box) or isinstance(dst, Box):
        return f"{src.key}->{dst.key}#0"  # one arrow between a module and anything else
    occurrence = sum(1 for j, p in child.inputs if p is parent and j < index)
    return f"{src.key}->{dst.key}#{occurrence}"


def _tag(match, seen):
    kind, title = match.group(1), html.unescape(match.group(2))
    if kind == "node":
        return f'<g class="node" data-node="{html.escape(title)}">'
    if kind == "edge":
        k = seen.get(title, 0)
        seen[title] = k + 1
        return f'<g class="edge" data-edge="{html.escape(title)}#{k}">'
    return '<g class="cluster">'


@functools.lru_cache(maxsize=1)
def dot_font():
    """The font family `dot` measures the labels' text with (the first of `FONT` it finds), or None.

    A browser may pick another font from `FONT` than Graphviz did; naming the font that
    was measured first keeps text inside its boxes.
    """
    try:
        run = subprocess.run(["dot", "-v", "-Tsvg"], input=f'digraph {{ a [fontname="{FONT}"] }}', text=True,
                             capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'resolved to: [^"\n]*"([^",\n]+)', run.stderr)  # ... (PangoCairoFcFont) "DejaVu Sans, Book"
    return found.group(1).strip() if found else None


def clean_svg(svg):
    """Graphviz's SVG made fit to inline: no prolog or comments, keyed groups, no ids, the measured font.

    Returns (svg text, (width, height) in CSS pixels)."""
    svg = svg[svg.index("<svg"):]
    font = dot_font()
    if font and not FONT.startswith(font + ","):
        svg = svg.replace(f'font-family="{FONT}"', f'font-family="{html.escape(font)},{FONT}"')
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    seen = {}
    svg = _GROUP.sub(lambda m: _tag(m, seen), svg)
    svg = _IDS.sub("", svg)
    svg = re.sub(r"<title>.*?</title>\s*", "", svg, flags=re.S)  # no tooltip naming the graph
    size = _SIZE.search(svg)
    width, height = (float(size.group(1)) * 4 / 3, float(size.group(2)) * 4 / 3) if size else (0.0, 0.0)
    svg = _SIZE.sub("<svg", svg, count=1)
    return svg.strip(), (round(width), round(height))


PANE = (700, 640)  # CSS pixels the graph usually gets on a laptop screen


def _scale(size):
    """The zoom the page starts at (as its script's fitZoom): the whole picture when that is
    at least 60%, else the full width."""
    if not (size[0] and size[1]):
        return 0.0
    whole = min(1.25, PANE[0] / size[0], PANE[1] / size[1])
    return whole if whole >= 0.6 else min(1.25, PANE[0] / size[0])


def _svg(root, params, depth, max_values, rankdir):
    dot = draw_graph(root, params, depth=depth, max_nodes=10**9, max_values=max_values, grads=False, rankdir=rankdir,
                     caption=False)
    try:
        return clean_svg(fitted_svg(dot.engine, dot.source.encode("utf-8")).decode("utf-8"))
    except graphviz.ExecutableNotFound as err:
        raise NoPicture(f"Graphviz could not run: {err}") from None


def render(root, params, depth, max_values):
    """The SVG (cleaned) of `draw_graph(root, params, depth=depth)` without gradients or caption lines (the
    legend stays), and its size.

    `draw_graph` picks the direction; when its picture is wider than tall (a chain of
    ops), the top-to-bottom layout is used if the page can show it larger.
    Raises NoPicture when Graphviz's `dot` program is missing.
    """
    if shutil.which("dot") is None:
        raise NoPicture("Graphviz's `dot` program is not installed (apt-get install graphviz, or brew install "
                        "graphviz), so the graph is not drawn; the steps and the table work without it")
    svg, size = _svg(root, params, depth, max_values, None)
    if size[0] > 1.3 * size[1]:
        tall, tall_size = _svg(root, params, depth, max_values, "TB")
        if _scale(tall_size) > _scale(size):
            return tall, tall_size
    return svg, size


def captions(graph, layout, root):
    """{phase: (heading, text)}: what the picture shows in each phase of the page and the key to its arrows,
    for the caption above it (the picture's own caption would say 'forward view' throughout); `root` names
    the output."""
    tail = "".join("; " + key for key in arrow_keys(forward_edges(graph, layout)))
    return {"forward": ("forward pass", f"the ops light up in the order the engine runs them, from the leaves to "
                                        f"{root} (faded: not computed yet); arrows: data flowing forward{tail}"),
            "check": ("converged?", f"{root} is compared with the last iteration's loss; the graph shows the "
                                    f"values just computed{tail}"),
            "backward": ("backward pass", f"the gradient of {root} flows back along the arrows, one a step (moving "
                                          f"red: this step's; red: done); red tags: what each node holds so far"
                                          f"{tail}"),
            "update": ("update", f"the optimizer changes each parameter by its gradient (green glow: changed); "
                                 f"the boxes keep the values it started from{tail}")}
