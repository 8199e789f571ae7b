"""Regenerate the graph pictures of docs/graphs.md: `python docs/pictures/make_graph_pictures.py`.

Four examples, from micrograd-sized to a whole GPT training step:
- neuron: tanh(x1*w1 + x2*w2 + b), micrograd's example, backward view with a grad check;
- linreg: theta0 + theta1 * x with a mean squared error on 5 points, forward and backward;
- gpt_block: one transformer block of models.GPT, attention spelled out in primitive ops;
- gpt_step: a whole GPT forward pass and loss at the CLI's default sizes, at default settings
  (modules collapsed automatically) as an SVG, and at depth=3 as a one-screen PNG overview.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))  # run from anywhere: the repo root first

from engine import Tensor, manual_seed, randn  # noqa: E402
from engine.viz import draw_graph, save_graph  # noqa: E402
from models.gpt import GPT, GPTConfig  # noqa: E402


def neuron():
    """micrograd's neuron: o = tanh(x1*w1 + x2*w2 + b)."""
    x1 = Tensor(2.0, requires_grad=True, name="x1")
    x2 = Tensor(0.0, requires_grad=True, name="x2")
    w1 = Tensor(-3.0, requires_grad=True)
    w2 = Tensor(1.0, requires_grad=True)
    b = Tensor(6.8813735870195432, requires_grad=True)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.name = "o"
    return o, {"w1": w1, "w2": w2, "b": b}


def linreg():
    """Linear regression on 5 points: loss = mean((theta0 + theta1 * x - y)^2)."""
    x = Tensor([0.0, 0.25, 0.5, 0.75, 1.0], name="x")                 # (5,)
    y = Tensor([1.3, 1.4, 2.2, 2.6, 3.1], name="y")                   # (5,)
    theta0 = Tensor(0.0, requires_grad=True)
    theta1 = Tensor(0.0, requires_grad=True)
    pred = theta0 + theta1 * x                                        # (5,)
    pred.name = "pred"
    err = pred - y                                                    # (5,)
    err.name = "err"
    loss = (err * err).mean()
    loss.name = "loss"
    return loss, {"theta0": theta0, "theta1": theta1}


def gpt_block():
    """The first block of a small GPT on one sequence of 4 tokens, attention in primitive ops."""
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=4, n_layer=1, n_head=2, n_embd=8))
    block = model.transformer.h[0]
    block.attn.flash = False
    x = randn(1, 4, 8)                                                # (B, T, C)
    x.name = "x"
    y = block(x)                                                      # (B, T, C)
    out = (y * y).mean()
    out.name = "out"
    return out, block


def gpt_step():
    """A GPT forward pass and cross-entropy loss at the CLI's default sizes (batch 12, context 64)."""
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=65))
    idx = np.random.default_rng(0).integers(0, 65, (12, 64))          # (B, T)
    _, loss = model(idx, idx)
    loss.name = "loss"
    return loss, model


def main():
    """Write every picture into docs/pictures."""
    def out(name):
        return os.path.join(HERE, name)

    o, params = neuron()
    save_graph(draw_graph(o, params=params, view="backward", check=True), out("neuron.png"))
    loss, params = linreg()
    save_graph(draw_graph(loss, params=params), out("linreg.png"))
    save_graph(draw_graph(loss, params=params, view="backward"), out("linreg_backward.png"))
    out_, block = gpt_block()
    save_graph(draw_graph(out_, params=block), out("gpt_block.png"))
    loss, model = gpt_step()
    dot = draw_graph(loss, params=model)
    save_graph(dot, out("gpt_step.svg"))  # zoomable; as a PNG this tall picture's text would be unreadable
    save_graph(draw_graph(loss, params=model, depth=3), out("gpt_step_depth3.png"))
    print(f"wrote the pictures to {HERE}")


if __name__ == "__main__":
    main()
