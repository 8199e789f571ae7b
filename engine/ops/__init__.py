"""The op table: every primitive op of the engine, forward and backward side by side.

`OPS` lists every op class (its `.name` is what graphs and errors show); the gradient
tests are driven by a table of cases that must cover every entry here.
"""
from engine.ops.attention import Attention
from engine.ops.base import FusedOp, Op
from engine.ops.elementwise import (Abs, Add, Div, Erf, Exp, Log, Maximum, Mul, Neg, Pow, PowScalar,
                                    Relu, Sigmoid, Sqrt, Sub, Tanh, Where)
from engine.ops.fused import Gelu, LayerNorm
from engine.ops.matmul import Linear, MatMul
from engine.ops.reduce import Expand, Max, Min, Sum, SumTo
from engine.ops.shape import Cast, Concatenate, Index, IndexAdd, Reshape, Transpose
from engine.ops.softmax import CrossEntropy, LogSoftmax, LogSumExp, Softmax

OPS = (Neg, Add, Sub, Mul, Div, PowScalar, Pow, Exp, Log, Tanh, Sigmoid, Relu, Sqrt, Abs, Erf,
        Maximum, Where, MatMul, Linear, Sum, SumTo, Expand, Max, Min, Reshape, Transpose, Index, IndexAdd,
        Concatenate, Cast, Softmax, LogSoftmax, LogSumExp, CrossEntropy, LayerNorm, Gelu, Attention)

__all__ = ["Op", "FusedOp", "OPS"] + [op.__name__ for op in OPS]
