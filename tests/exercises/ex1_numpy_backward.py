"""Exercise 1, broken: the right derivative, computed in numpy, so create_graph has nothing to differentiate."""
import numpy as np

from engine import Tensor
from engine.ops import Op


class Softplus(Op):
    """log(1 + e^x)"""
    name = "softplus"

    def forward(ctx, x):
        return np.logaddexp(0.0, x)

    def backward(ctx, g, out):
        return Tensor(g.data / (1.0 + np.exp(-ctx.parents[0].data)))
