"""``stepgrad explore``: write a backprop-explorer page for a ready example.

    stepgrad explore                          the seed's linear regression on five points
    stepgrad explore --example neuron         one tanh neuron (micrograd's example)
    stepgrad explore --example mlp -o m.html  a small MLP (two Linear layers) on four points
    stepgrad explore --example gpt            one GPT training step, modules collapsed

Each example builds its loss, hands it to ``engine.viz.explore`` and saves the page.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from engine import Tensor, manual_seed, nn
from models.linreg import LinearRegression, make_data

LINREG_POINTS = 5
GPT_DEPTH = 4  # each transformer block shows its layer norms, attention and MLP as boxes


def linreg_example():
    """The seed's loss J(θ) = mean((θ0 + θ1·x − y)²) on five of its points, θ = 0: (loss, model)."""
    x, y = make_data(LINREG_POINTS, seed=0)                     # (5,), (5,)
    model = LinearRegression()
    prediction = model(Tensor(x, name="x"))                      # (5,)
    prediction.name = "prediction"
    error = prediction - Tensor(y, name="y")                     # (5,)
    error.name = "error"
    loss = (error * error).mean()                                # ()
    loss.name = "J"
    return loss, model


def neuron_example():
    """One neuron, o = tanh(x1·w1 + x2·w2 + b), with micrograd's numbers: (output, params)."""
    x1, x2 = Tensor(2.0, name="x1"), Tensor(0.0, name="x2")
    params = {"w1": Tensor(-3.0, requires_grad=True), "w2": Tensor(1.0, requires_grad=True),
              "b": Tensor(6.8813735870195432, requires_grad=True)}
    x1w1 = x1 * params["w1"]
    x1w1.name = "x1w1"
    x2w2 = x2 * params["w2"]
    x2w2.name = "x2w2"
    n = x1w1 + x2w2 + params["b"]
    n.name = "n"
    o = n.tanh()
    o.name = "o"
    return o, params


class TinyMLP(nn.Module):
    """Two inputs, three tanh hidden units, one output."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        """The network's outputs (N, 1) for inputs x (N, 2)."""
        return self.out(self.hidden(x).tanh())


def mlp_example():
    """A TinyMLP's mean squared error on the four XOR points: (loss, model)."""
    manual_seed(0)
    model = TinyMLP()
    x = Tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32), name="x")   # (4, 2)
    y = Tensor(np.array([[0], [1], [1], [0]], dtype=np.float32), name="y")               # (4, 1)
    error = model(x) - y                                                                   # (4, 1)
    error.name = "error"
    loss = (error * error).mean()
    loss.name = "loss"
    return loss, model


def gpt_example():
    """One training batch of the GPT at ``stepgrad train``'s default sizes: (loss, model)."""
    from models.graph_cmd import model_loss

    loss, model = model_loss("gpt")
    loss.name = "loss"
    return loss, model


#: name -> (what it is, the function making (root, params), depth)
EXAMPLES = {
    "linreg": ("the seed's linear regression on five points", linreg_example, None),
    "neuron": ("a single tanh neuron", neuron_example, None),
    "mlp": ("a small MLP on the XOR points", mlp_example, None),
    "gpt": (f"one GPT training step, modules collapsed at depth {GPT_DEPTH}", gpt_example, GPT_DEPTH),
}


def example_explorer(name: str):
    """The `Explorer` of example ``name``."""
    from engine.viz import explore

    what, make, depth = EXAMPLES[name]
    root, params = make()
    return explore(root, params=params, depth=depth, title=f"Backprop, step by step: {what}")


def main_explore(args) -> int:
    """Run ``stepgrad explore`` from parsed command-line ``args``; return the exit code."""
    path = Path(args.output or f"backprop-{args.example}.html")
    written = example_explorer(args.example).save(path)
    print(f"wrote {written}: open it in a web browser ({written.resolve().as_uri()})", file=sys.stdout)
    return 0
