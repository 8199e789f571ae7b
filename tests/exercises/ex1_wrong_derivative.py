"""Exercise 1, broken: the derivative of log(1 + e^x) taken as 1 / (1 + e^x)."""
import numpy as np

from engine.ops import Op


class Softplus(Op):
    """log(1 + e^x)"""
    name = "softplus"

    def forward(ctx, x):
        return np.logaddexp(0.0, x)

    def backward(ctx, g, out):
        return g / (1.0 + ctx.parents[0].exp())
