"""Exercise 4, broken: the learner "fixed" gauss, which was right, and left softsign alone."""
import numpy as np

from engine.ops import Op


class Gauss(Op):
    """exp(-x²)"""
    name = "gauss"
    uses_output = True

    def forward(ctx, x):
        return np.exp(-x * x)

    def backward(ctx, g, out):
        return g * -2.0 * ctx.parents[0] * out
