"""``stepgrad graph``: draw the computation graph of one model's loss.

The model is built at the sizes ``stepgrad train`` uses by default (for the
language models: a 65-character vocabulary, as tiny Shakespeare has), or loaded
from a checkpoint, fed one batch, and its loss is differentiated.  The forward
view is drawn after that backward pass, so the parameters show their gradients;
the backward view labels every arrow with the gradient it carries.  The linear
regression's inputs are named ``x`` and ``y`` and its loss's ops sit in a frame
titled ``mse``.

Big graphs are drawn with modules collapsed into boxes (``engine.viz``'s
automatic depth).  A PNG cannot be zoomed like an SVG, so without ``--depth`` a
PNG is drawn at the deepest depth whose picture, shown whole on a 1920x1080
screen, keeps its text readable (shrunk to no less than ``MIN_SCALE``).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from engine import Tensor, manual_seed, name_scope
from engine.files import format_from_suffix
from engine import functional as F
from models.linreg import LinearRegression, make_data
from models.registry import build_model
from models.train_config import make_config, model_config_for
from models.trained import load_model

GRAPH_VOCAB = 65  # tiny Shakespeare's character count
CHECKPOINT_BATCH = 4  # sequences per batch for a checkpoint that does not record its training batch size
FORMATS = ("svg", "png", "pdf", "dot")
SCREEN = (1920, 1080)  # pixels: a PNG shown whole on this screen ...
MIN_SCALE = 0.6  # ... may shrink to this fraction, so that 9-point labels (12 px) stay 7 px high


class GraphError(ValueError):
    """A graph the command cannot draw as asked; the message is one line naming the flag to change."""


def linreg_loss(seed: int = 0) -> tuple[Tensor, LinearRegression]:
    """The seed's loss on its 100 points, inputs named ``x`` and ``y``, the MSE framed as ``mse``."""
    model = LinearRegression()
    x, y = make_data(100, seed)  # (100,), (100,)
    prediction = model(Tensor(x, name="x"))  # (100,)
    prediction.name = "prediction"
    target = Tensor(y, name="y")  # (100,) made outside the frame, so drawn outside it
    with name_scope("mse"):
        loss = F.mse_loss(prediction, target)  # ()
    return loss, model


def model_loss(model_name: str, seed: int = 0) -> tuple[Tensor, object]:
    """A fresh ``model_name`` model and the loss of one batch: returns ``(loss, model)``."""
    manual_seed(seed)
    if model_name == "linreg":
        return linreg_loss(seed)
    config = make_config(model_name)
    model = build_model(model_name, model_config_for(config, GRAPH_VOCAB))
    idx = np.random.default_rng(seed).integers(0, GRAPH_VOCAB, (config.batch_size, config.block_size + 1))
    _, loss = model(idx[:, :-1], idx[:, 1:])  # inputs (B, T), targets shifted by one
    return loss, model


def checkpoint_loss(path: str | Path, seed: int = 0) -> tuple[Tensor, object]:
    """A saved model and the loss of one random batch of its vocabulary at its full context: ``(loss, model)``.

    ``path`` is any language-model checkpoint (``stepgrad train`` or ``stepgrad import``).
    """
    model, tokenizer, meta = load_model(path)
    batch = (meta.get("train_config") or {}).get("batch_size", CHECKPOINT_BATCH)
    T = model.context_size
    idx = np.random.default_rng(seed).integers(0, tokenizer.vocab_size, (batch, T + 1))  # (B, T + 1)
    _, loss = model(idx[:, :-1], idx[:, 1:])  # inputs (B, T), targets shifted by one
    return loss, model


def graph_loss(model_name: str, checkpoint: str | Path | None = None) -> tuple[Tensor, object]:
    """``(loss, model)`` of the model in ``checkpoint`` if given, else of a fresh ``model_name``."""
    return checkpoint_loss(checkpoint) if checkpoint else model_loss(model_name)


def output_path(model_name: str, output: str | Path | None, fmt: str | None) -> tuple[Path, str]:
    """Where to write and in which format: ``--format``, else the file's suffix, else svg.

    A suffix that is none of ``FORMATS`` without ``--format`` is a ``FormatError``.
    """
    fmt = fmt or (format_from_suffix(output, FORMATS, "svg") if output else "svg")
    return Path(output or f"{model_name}-graph.{fmt}"), fmt


def cli_depth_hint():
    """The command line's ``engine.viz.DepthHint``: ``--depth all`` draws every op, a bigger ``--depth`` more,
    ``--max-nodes`` bounds the nodes drawn."""
    from engine.viz import DepthHint

    return DepthHint("--depth all", "--depth", "--max-nodes")


def model_graph(model_name: str, checkpoint: str | Path | None = None, view: str = "forward", depth="auto",
                max_nodes: int = 300, check: bool = False):
    """The ``graphviz.Digraph`` of one batch's loss of a fresh ``model_name`` (or of the model in ``checkpoint``).

    The forward view is drawn after ``backward()`` (the parameters show their
    ``.grad``); the backward view computes every gradient for the picture itself.
    ``depth``, ``max_nodes`` and ``check`` are ``engine.viz.draw_graph``'s; the caption's advice on
    depth names ``--depth``.
    """
    from engine.viz import draw_graph

    loss, model = graph_loss(model_name, checkpoint)
    loss.name = "loss"
    if view == "forward":
        loss.backward()
    return draw_graph(loss, params=model, view=view, depth=depth, max_nodes=max_nodes, check=check,
                      depth_hint=cli_depth_hint())


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) in pixels of PNG bytes, read from the IHDR header."""
    return struct.unpack(">II", data[16:24])


def readable(data: bytes) -> bool:
    """True when a PNG shown whole on ``SCREEN`` shrinks to no less than ``MIN_SCALE``."""
    width, height = png_size(data)
    return min(SCREEN[0] / width, SCREEN[1] / height) >= MIN_SCALE


def readable_png(model_name: str, checkpoint: str | Path | None = None, view: str = "forward",
                 max_nodes: int = 300, check: bool = False) -> tuple[bytes | None, int | None]:
    """PNG bytes of the graph at the deepest depth whose text stays readable, and that depth.

    Starts from the automatic depth and collapses one module level more until the
    picture fits (``readable``), down to depth 1.  Returns ``(png, depth)`` with
    depth None when the automatic picture already fits, and ``(None, None)``
    without Graphviz's ``dot`` program.
    """
    import graphviz

    from engine.viz.clusters import choose_layout, max_depth
    from engine.viz.graph import read_graph

    graph = read_graph(*graph_loss(model_name, checkpoint))
    auto = choose_layout(graph, "auto", max_nodes).depth  # None: every op is drawn
    start = auto if auto is not None else max_depth(graph) + 1
    for depth in ["auto", *range(start - 1, 0, -1)]:
        try:
            data = model_graph(model_name, checkpoint, view, depth, max_nodes, check).pipe(format="png")
        except graphviz.ExecutableNotFound:
            return None, None
        if readable(data):
            break
    return data, None if depth == "auto" else depth


def draw_model_graph(model_name: str, output: str | Path | None = None, fmt: str | None = None,
                     checkpoint: str | Path | None = None, view: str = "forward", depth="auto",
                     max_nodes: int = 300, check: bool = False) -> tuple[Path, str]:
    """Draw ``model_name``'s loss graph (or that of the model in ``checkpoint``) into a file.

    Returns ``(path written, a note for the user)``.  Without Graphviz's ``dot``
    program, svg and png fall back to the DOT text (``engine.viz.save_graph``
    says so on stderr) and that path is returned.
    """
    from engine.viz import GraphTooLarge, save_graph

    name = Path(checkpoint).stem if checkpoint else model_name
    path, fmt = output_path(name, output, fmt)
    try:
        if fmt == "png" and depth == "auto":
            data, collapsed = readable_png(model_name, checkpoint, view, max_nodes, check)
            if data is not None:
                path.write_bytes(data)
                note = (f" (modules collapsed at depth {collapsed} so that its text stays readable; an svg, or "
                        f"--depth, shows more)") if collapsed else ""
                return path, note
        graph = model_graph(model_name, checkpoint, view, depth, max_nodes, check)
    except GraphTooLarge as error:
        options = ", ".join(f"--depth {d} gives {n}" for d, n in error.depths.items())
        raise GraphError(f"the {name} graph would have {error.count} nodes, more than --max-nodes "
                         f"{error.max_nodes}: collapse modules into boxes ({options}) or raise --max-nodes") from None
    return Path(save_graph(graph, path, format=fmt)), ""


def main_graph(args) -> int:
    """Run ``stepgrad graph`` from parsed command-line ``args``; return the exit code."""
    written, note = draw_model_graph(args.model or "mlp", args.output, args.format, args.checkpoint, args.view,
                                     args.depth, args.max_nodes, args.check)
    print(f"wrote {written}{note}", file=sys.stdout)
    return 0
