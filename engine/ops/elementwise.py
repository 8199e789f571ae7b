"""Elementwise ops: arithmetic, the usual nonlinearities, where and maximum.

Binary ops broadcast like numpy; their backward rules return gradients in the
broadcast shape and the engine sums them back to each parent's shape.
"""
import math

import numpy as np

from engine import anomaly, kernels
from engine.ops.base import Op
from engine.tensor import Tensor


def _mask(cond, dtype):
    """A constant 0/1 tensor of `dtype` from a boolean array."""
    return Tensor._wrap(cond.astype(dtype))


class Neg(Op):
    """-x"""
    elementwise = True
    name = "neg"
    derivatives = ("d(-{x})/d {x} = -1",)

    def forward(ctx, x):
        return np.negative(x)

    def backward(ctx, g, out):
        return -g


class Add(Op):
    """a + b"""
    elementwise = True
    name = "add"
    inputs = ("a", "b")
    derivatives = ("d({a} + {b})/d {a} = 1", "d({a} + {b})/d {b} = 1")

    def forward(ctx, a, b):
        return a + b

    def backward(ctx, g, out):
        return g, g


class Sub(Op):
    """a - b"""
    elementwise = True
    name = "sub"
    inputs = ("a", "b")
    derivatives = ("d({a} - {b})/d {a} = 1", "d({a} - {b})/d {b} = -1")

    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g, out):
        return g, (-g if ctx.parents[1].requires_grad else None)


class Mul(Op):
    """a * b"""
    elementwise = True
    name = "mul"
    inputs = ("a", "b")
    derivatives = ("d({a}*{b})/d {a} = {b}", "d({a}*{b})/d {b} = {a}")

    def forward(ctx, a, b):
        return a * b

    def backward(ctx, g, out):
        a, b = ctx.parents
        return (g * b if a.requires_grad else None), (g * a if b.requires_grad else None)


class Div(Op):
    """a / b"""
    uses_output = True
    elementwise = True
    name = "div"
    inputs = ("a", "b")
    derivatives = ("d({a}/{b})/d {a} = 1/{b}", "d({a}/{b})/d {b} = -{a}/{b}²")

    def forward(ctx, a, b):
        with anomaly.numpy_warnings_off():  # x/0 is ±inf and 0/0 nan, silently, as in PyTorch
            return a / b

    def backward(ctx, g, out):
        a, b = ctx.parents
        ga = g / b if a.requires_grad else None
        gb = -g * out / b if b.requires_grad else None
        return ga, gb


class PowScalar(Op):
    """x ** p for a Python number p"""
    elementwise = True
    name = "pow_scalar"

    def derivative(ctx, index, names):
        x, p = names[0], ctx.attrs["p"]
        return f"d({x}**2)/d {x} = 2·{x}" if p == 2 else f"d({x}**{p:g})/d {x} = {p:g}·{x}**{p - 1:g}"

    def forward(ctx, x, p):
        return kernels.power(x, p)

    def backward(ctx, g, out):
        x = ctx.parents[0]
        p = ctx.attrs["p"]
        if p == 2:
            return g * x * 2.0
        if p == 0:  # zeros, as PyTorch: not g * 0 (NaN where g is inf or NaN), nor 0 * x ** -1 (NaN at x = 0)
            return Tensor._wrap(np.zeros_like(g.data))
        return g * (x ** (p - 1)) * float(p)


class Pow(Op):
    """a ** b with both tensors (d/db = a ** b * log a, defined for a > 0)."""
    uses_output = True
    elementwise = True
    name = "pow"
    inputs = ("a", "b")
    derivatives = ("d({a}**{b})/d {a} = {b}·{a}**({b}-1)", "d({a}**{b})/d {b} = {a}**{b}·log {a}")

    def forward(ctx, a, b):
        return np.power(a, b)

    def backward(ctx, g, out):
        a, b = ctx.parents
        ga = g * b * a ** (b - 1.0) if a.requires_grad else None
        gb = None
        if b.requires_grad:  # a ** b * log a, taken as 0 where a == 0 (as PyTorch) rather than 0 * -inf = NaN
            one = Tensor._wrap(np.ones((), dtype=a.data.dtype))
            gb = g * out * Where.apply(a, one, cond=a.data != 0).log()
        return ga, gb


class Exp(Op):
    """e ** x"""
    uses_output = True
    elementwise = True
    name = "exp"
    derivatives = ("d exp({x})/d {x} = exp({x})",)

    def forward(ctx, x):
        return np.exp(x)

    def backward(ctx, g, out):
        return g * out


class Log(Op):
    """natural logarithm"""
    elementwise = True
    name = "log"
    derivatives = ("d log({x})/d {x} = 1/{x}",)

    def forward(ctx, x):
        with anomaly.numpy_warnings_off():  # log(0) is -inf and log(-1) nan, silently, as in PyTorch
            return np.log(x)

    def backward(ctx, g, out):
        return g / ctx.parents[0]


class Tanh(Op):
    """hyperbolic tangent"""
    uses_output = True
    elementwise = True
    name = "tanh"
    derivatives = ("d tanh({x})/d {x} = 1 - tanh²({x})",)

    def forward(ctx, x):
        return np.tanh(x)

    def backward(ctx, g, out):
        return g * (1.0 - out * out)


class Sigmoid(Op):
    """logistic sigmoid, as 0.5 * (1 + tanh(x / 2)): no overflow anywhere"""
    uses_output = True
    elementwise = True
    name = "sigmoid"
    derivatives = ("d σ({x})/d {x} = σ({x})·(1 - σ({x}))",)

    def forward(ctx, x):
        return (np.tanh(x * 0.5) + 1.0) * 0.5

    def backward(ctx, g, out):
        return g * out * (1.0 - out)


class Relu(Op):
    """max(x, 0)"""
    elementwise = True
    name = "relu"
    derivatives = ("d relu({x})/d {x} = 1 where {x} > 0, else 0",)

    def forward(ctx, x):
        return np.maximum(x, 0)

    def backward(ctx, g, out):
        x = ctx.parents[0]
        return g * _mask(x.data > 0, x.data.dtype)


class Sqrt(Op):
    """square root"""
    uses_output = True
    elementwise = True
    name = "sqrt"
    derivatives = ("d √{x}/d {x} = 1/(2√{x})",)

    def forward(ctx, x):
        with anomaly.numpy_warnings_off():  # sqrt(-1) is nan, silently, as in PyTorch
            return np.sqrt(x)

    def backward(ctx, g, out):
        return g / (out * 2.0)


class Abs(Op):
    """|x| (gradient sign(x), 0 at 0)"""
    elementwise = True
    name = "abs"
    derivatives = ("d |{x}|/d {x} = sign({x})",)

    def forward(ctx, x):
        return np.abs(x)

    def backward(ctx, g, out):
        x = ctx.parents[0]
        return g * Tensor._wrap(np.sign(x.data))


class Erf(Op):
    """the error function (GELU's building block)"""
    elementwise = True
    name = "erf"
    derivatives = ("d erf({x})/d {x} = 2/√π·exp(-{x}²)",)

    def forward(ctx, x):
        return kernels.erf(x)

    def backward(ctx, g, out):
        x = ctx.parents[0]
        return g * (x * x * -1.0).exp() * (2.0 / math.sqrt(math.pi))


class Maximum(Op):
    """elementwise max(a, b); where a == b each side gets half the gradient (as PyTorch)"""
    elementwise = True
    name = "maximum"
    inputs = ("a", "b")
    derivatives = ("1 where {a} > {b} (½ at ties), else 0", "1 where {b} > {a} (½ at ties), else 0")

    def forward(ctx, a, b):
        return np.maximum(a, b)

    def backward(ctx, g, out):
        a, b = ctx.parents
        share = (a.data > b.data).astype(out.data.dtype) + (a.data == b.data).astype(out.data.dtype) * 0.5
        ga = g * Tensor._wrap(share) if a.requires_grad else None
        gb = g * Tensor._wrap(1.0 - share) if b.requires_grad else None
        return ga, gb


class Where(Op):
    """cond ? a : b, elementwise (cond is a constant boolean array)"""
    elementwise = True
    name = "where"
    inputs = ("a", "b")
    derivatives = ("1 where cond, else 0", "1 where not cond, else 0")

    def forward(ctx, a, b, cond):
        return np.where(cond, a, b)

    def backward(ctx, g, out):
        a, b = ctx.parents
        cond = ctx.attrs["cond"]
        zero = Tensor._wrap(np.zeros((), dtype=g.data.dtype))
        ga = Where.apply(g, zero, cond=cond) if a.requires_grad else None
        gb = Where.apply(zero, g, cond=cond) if b.requires_grad else None
        return ga, gb
