"""``stepgrad explore``: write a backprop-explorer page for a ready example.

    stepgrad explore                          the seed's linear regression: three whole iterations
    stepgrad explore --example neuron         one tanh neuron (micrograd's example)
    stepgrad explore --example mlp -o m.html  a small MLP (two Linear layers) on four points
    stepgrad explore --example gpt            one GPT training step, modules collapsed
    stepgrad explore --example gpt --depth 3  the same, one box per transformer block
    stepgrad explore --checkpoint F           one training step of a saved model (from train or import)

Each example builds its loss, model and optimizer, hands them to ``engine.viz.explore``
and saves the page; ``--depth`` (as ``stepgrad graph --depth``) replaces the example's own depth.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

import optim
from engine import Tensor, manual_seed, nn
from models.linreg import LinearRegression, make_data

LINREG_POINTS = 5
LINREG_LR = 0.1        # ten times the seed's rate, so that three steps visibly move the line
LINREG_ITERATIONS = 3
LINREG_TOL = 1e-6      # as `stepgrad linreg --tol`: converged when the loss changes by less
GPT_DEPTH = 4          # each transformer block shows its layer norms, attention and MLP as boxes


@dataclass
class Example:
    """What ``explore`` is given for one example: the loss (or a function computing it), the
    names of the leaves, the optimizer of the update phase and the page's options."""
    what: str
    root: Any
    params: Any
    optimizer: Any = None
    depth: int | str | None = None
    iterations: int = 1
    tol: float | None = None


def linreg_loss(model, x, y):
    """The seed's loss J(θ) = mean((θ0 + θ1·x − y)²), its tensors named for the page."""
    prediction = model(Tensor(x, name="x"))                      # (n,)
    prediction.name = "prediction"
    error = prediction - Tensor(y, name="y")                     # (n,)
    error.name = "error"
    loss = (error * error).mean()                                # ()
    loss.name = "J"
    return loss


def linreg_example() -> Example:
    """Gradient descent on the seed's loss over five of its points, θ = 0: three whole iterations."""
    x, y = make_data(LINREG_POINTS, seed=0)                     # (5,), (5,)
    model = LinearRegression()
    return Example("the seed's linear regression on five points, three steps of gradient descent",
                   lambda: linreg_loss(model, x, y), model, optim.SGD(model.parameters(), lr=LINREG_LR),
                   iterations=LINREG_ITERATIONS, tol=LINREG_TOL)


def neuron_example() -> Example:
    """One neuron, o = tanh(x1·w1 + x2·w2 + b), with micrograd's numbers (forward and backward only)."""
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
    return Example("a single tanh neuron", o, params)


class TinyMLP(nn.Module):
    """Two inputs, three tanh hidden units, one output."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(2, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        """The network's outputs (N, 1) for inputs x (N, 2)."""
        return self.out(self.hidden(x).tanh())


def xor_loss(model):
    """A model's mean squared error on the four XOR points."""
    x = Tensor(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32), name="x")   # (4, 2)
    y = Tensor(np.array([[0], [1], [1], [0]], dtype=np.float32), name="y")               # (4, 1)
    error = model(x) - y                                                                   # (4, 1)
    error.name = "error"
    loss = (error * error).mean()
    loss.name = "loss"
    return loss


def mlp_example() -> Example:
    """A TinyMLP's mean squared error on the four XOR points, and one Adam step."""
    manual_seed(0)
    model = TinyMLP()
    return Example("a small MLP on the XOR points", xor_loss(model), model, optim.Adam(model.parameters(), lr=0.01))


def gpt_example() -> Example:
    """One training batch of the GPT at ``stepgrad train``'s default sizes, and the recipe's AdamW step."""
    from models.graph_cmd import model_loss
    from models.lm import weight_decay_groups
    from models.recipe import GPT_RECIPE as recipe

    loss, model = model_loss("gpt")
    loss.name = "loss"
    adamw = optim.AdamW(weight_decay_groups(model.named_parameters(), recipe.weight_decay), lr=recipe.lr,
                        betas=recipe.betas)
    return Example(f"one GPT training step, modules collapsed at depth {GPT_DEPTH}", loss, model, adamw,
                   depth=GPT_DEPTH)


#: name -> the function that builds the example
EXAMPLES: dict[str, Callable[[], Example]] = {
    "linreg": linreg_example,
    "neuron": neuron_example,
    "mlp": mlp_example,
    "gpt": gpt_example,
}


def explore_example(example: Example, max_nodes: int = 300):
    """The `Explorer` of an `Example`, drawing at most ``max_nodes`` nodes; its advice on depth names
    ``stepgrad explore --depth`` and ``--max-nodes``."""
    from engine.viz import explore
    from models.graph_cmd import cli_depth_hint

    return explore(example.root, params=example.params, optimizer=example.optimizer, depth=example.depth,
                   iterations=example.iterations, tol=example.tol, title=f"Backprop, step by step: {example.what}",
                   max_nodes=max_nodes, depth_hint=cli_depth_hint())


def example_explorer(name: str):
    """The `Explorer` of example ``name``."""
    return explore_example(EXAMPLES[name]())


def checkpoint_example(checkpoint: str | Path) -> Example:
    """One random batch of its vocabulary through the model saved in ``checkpoint`` (from train or
    import), and the recipe's AdamW step; modules collapsed as ``stepgrad graph`` collapses them."""
    from models.graph_cmd import checkpoint_loss
    from models.lm import weight_decay_groups
    from models.recipe import GPT_RECIPE as recipe

    loss, model = checkpoint_loss(checkpoint)
    loss.name = "loss"
    adamw = optim.AdamW(weight_decay_groups(model.named_parameters(), recipe.weight_decay), lr=recipe.lr,
                        betas=recipe.betas)
    return Example(f"{Path(checkpoint).name}, one training step on a random batch", loss, model, adamw,
                   depth="auto")


def main_explore(args) -> int:
    """Run ``stepgrad explore`` from parsed command-line ``args``; return the exit code."""
    if args.checkpoint:
        path = Path(args.output or f"backprop-{Path(args.checkpoint).stem}.html")
        example = checkpoint_example(args.checkpoint)
    else:
        name = args.example or "linreg"
        path = Path(args.output or f"backprop-{name}.html")
        example = EXAMPLES[name]()
    if "depth" in args:  # given: 'auto', None (all) or a whole number
        example.depth = args.depth
    written = explore_example(example, args.max_nodes).save(path)
    print(f"wrote {written}: open it in a web browser ({written.resolve().as_uri()})", file=sys.stdout)
    return 0
