"""Exercise 1, broken: e^x / (1 + e^x) is the right derivative, but e^100 overflows float32."""
import numpy as np

from engine.ops import Op


class Softplus(Op):
    """log(1 + e^x)"""
    name = "softplus"

    def forward(ctx, x):
        return np.logaddexp(0.0, x)

    def backward(ctx, g, out):
        e = ctx.parents[0].exp()
        return g * e / (1.0 + e)
