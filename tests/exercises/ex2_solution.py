"""Exercise 2, a reference solution: d hypot/da = a / hypot, d hypot/db = b / hypot."""
import numpy as np

from engine.ops import Op


class Hypot(Op):
    """sqrt(a² + b²)"""
    name = "hypot"
    inputs = ("a", "b")
    uses_output = True
    derivatives = ("d hypot({a}, {b})/d{a} = {a}/hypot", "d hypot({a}, {b})/d{b} = {b}/hypot")

    def forward(ctx, a, b):
        return np.hypot(a, b)

    def backward(ctx, g, out):
        a, b = ctx.parents
        return (g * a / out if a.requires_grad else None), (g * b / out if b.requires_grad else None)
