"""``stepgrad graph``: draw the computation graph of one model's loss.

The model is built at the sizes ``stepgrad train`` uses by default (for the
language models: a 65-character vocabulary, as tiny Shakespeare has), fed one
random batch, and its loss is differentiated; the picture is the forward view
after that backward pass, so the parameters show their gradients.  Big graphs
are drawn with modules collapsed into boxes (``engine.viz``'s automatic depth).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from engine import Tensor, manual_seed
from engine import functional as F
from models.linreg import LinearRegression, make_data
from models.registry import build_model
from models.train_config import make_config, model_config_for
from models.trained import load_model

GRAPH_VOCAB = 65  # tiny Shakespeare's character count
CHECKPOINT_BATCH = 4  # sequences per batch for a checkpoint that does not record its training batch size
FORMATS = ("svg", "png", "dot")


def model_loss(model_name: str, seed: int = 0) -> tuple[Tensor, object]:
    """A fresh ``model_name`` model and the loss of one batch: returns ``(loss, model)``."""
    manual_seed(seed)
    if model_name == "linreg":
        model = LinearRegression()
        x, y = make_data(100, seed)  # (100,), (100,)
        return F.mse_loss(model(Tensor(x)), Tensor(y)), model
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


def output_path(model_name: str, output: str | None, fmt: str | None) -> tuple[Path, str]:
    """Where to write and in which format: ``--format``, else the file's suffix, else svg."""
    suffix = Path(output).suffix.lstrip(".").lower() if output else ""
    fmt = fmt or (suffix if suffix in FORMATS else "svg")
    return Path(output or f"{model_name}-graph.{fmt}"), fmt


def model_graph(model_name: str, checkpoint: str | Path | None = None):
    """The ``graphviz.Digraph`` of one batch's loss of a fresh ``model_name`` (or of the model saved in
    ``checkpoint``), after backward."""
    from engine.viz import draw_graph

    loss, model = checkpoint_loss(checkpoint) if checkpoint else model_loss(model_name)
    loss.name = "loss"
    loss.backward()
    return draw_graph(loss, params=model)


def draw_model_graph(model_name: str, output: str | None = None, fmt: str | None = None,
                     checkpoint: str | Path | None = None) -> Path:
    """Draw ``model_name``'s loss graph (or that of the model in ``checkpoint``) into a file; return its path.

    Without Graphviz's ``dot`` program, svg and png fall back to the DOT text
    (``engine.viz.save_graph`` says so on stderr) and that path is returned.
    """
    from engine.viz import save_graph

    path, fmt = output_path(Path(checkpoint).stem if checkpoint else model_name, output, fmt)
    return Path(save_graph(model_graph(model_name, checkpoint), path, format=fmt))


def main_graph(args) -> int:
    """Run ``stepgrad graph`` from parsed command-line ``args``; return the exit code."""
    written = draw_model_graph(args.model or "mlp", args.output, args.format, args.checkpoint)
    print(f"wrote {written}", file=sys.stdout)
    return 0
