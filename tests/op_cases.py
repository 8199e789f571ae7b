"""The op-case table: one row per use of an op, driving every generic op test.

Each `OpCase` names the op class it exercises (a meta-test demands a case for every
class in `engine.ops.OPS` and checks that the named op really appears in the case's
graph), an engine function of its differentiable inputs, the same function in numpy
(the forward reference) and, where PyTorch has it, in torch (for the optional
comparison tests). Non-differentiable arguments (index arrays, masks, targets) are
closed over by the functions, so every input of `fn` is a float tensor to check.

Inputs are drawn from a generator seeded by the case id, so every run sees the same
numbers; `Arg.kind` keeps values inside an op's smooth domain (positive for log,
away from 0 for division and kinks) or fixes them exactly (ties).
"""
import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine import Tensor, concatenate, maximum, minimum, ops, stack, where
from engine import functional as F


@dataclass(frozen=True)
class Arg:
    """How to draw one differentiable input: its shape and its value domain."""

    shape: tuple
    kind: str = "normal"  # normal | positive (0.5..2) | nonzero (±0.5..2) | fixed
    values: tuple = None  # the exact values when kind == "fixed"

    def make(self, rng, dtype):
        """An array of `dtype` drawn from `rng` as `kind` says."""
        if self.kind == "fixed":
            return np.array(self.values, dtype=dtype).reshape(self.shape)
        if self.kind == "normal":
            a = rng.standard_normal(self.shape)
        elif self.kind == "positive":
            a = rng.uniform(0.5, 2.0, self.shape)
        elif self.kind == "nonzero":
            a = rng.uniform(0.5, 2.0, self.shape) * rng.choice([-1.0, 1.0], self.shape)
        else:
            raise ValueError(f"unknown Arg kind {self.kind!r}")
        return np.asarray(a, dtype=dtype)


@dataclass(frozen=True)
class OpCase:
    """One op use: engine `fn`, numpy `ref`, optional torch form, and its inputs."""

    id: str
    op: type                 # the op class (from engine.ops) this case exercises
    fn: Callable             # fn(*Tensors) -> Tensor
    ref: Callable            # ref(*float64 ndarrays) -> ndarray, the forward reference
    args: tuple              # one Arg per input of fn
    torch: Callable = None   # torch(torch_module, *torch tensors) -> torch tensor; None: no equivalent
    second_order: bool = True  # False where the gradient jumps (ties, kinks) so differencing it is meaningless
    gradcheck_kw: dict = field(default_factory=dict)

    def arrays(self, dtype=np.float64):
        """The case's input values as arrays of `dtype` (the same numbers every run)."""
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        return [a.make(rng, dtype) for a in self.args]

    def inputs(self, dtype=np.float64):
        """The case's inputs as tensors that require grad."""
        return [Tensor(a, requires_grad=True) for a in self.arrays(dtype)]

    def weights(self, shape, dtype=np.float64):
        """Fixed random weights that turn an output of `shape` into a scalar loss."""
        rng = np.random.default_rng(zlib.crc32(self.id.encode()) + 1)
        return rng.standard_normal(shape).astype(dtype)

    def __str__(self):
        return self.id


def _dims(axis, ndim):
    """A reduction axis in torch's spelling (torch wants a tuple where numpy takes None)."""
    return tuple(range(ndim)) if axis is None else axis


def _flip(dtype):
    """The other float dtype (float32 <-> float64), for a cast that really converts."""
    return np.float32 if np.dtype(dtype) == np.float64 else np.float64


def _erf(a):
    return np.vectorize(math.erf, otypes=[np.float64])(a)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(a, axis, keepdims=False):
    m = a.max(axis=axis, keepdims=True)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _cross_entropy(x, t, reduction, ignore_index):
    logp = x - _logsumexp(x, -1, keepdims=True)                       # (..., C)
    valid = t != ignore_index
    picked = np.take_along_axis(logp, np.where(valid, t, 0)[..., None], -1)[..., 0]
    losses = -picked * valid
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / valid.sum()


def _torch_cross_entropy(T, x, t, reduction, ignore_index):
    c = x.shape[-1]
    out = T.nn.functional.cross_entropy(x.reshape(-1, c), T.as_tensor(t.reshape(-1)), reduction=reduction,
                                        ignore_index=ignore_index)
    return out.reshape(t.shape) if reduction == "none" else out


def _layer_norm(x, n_axes, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - n_axes, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    y = y if w is None else y * w
    return y if b is None else y + b


def _gelu(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


# ----- binary ops, each under every kind of broadcasting -------------------------
BROADCASTS = {            # name: (shape of a, shape of b)
    "same": ((3, 4), (3, 4)),
    "scalar": ((3, 4), ()),
    "scalar_left": ((), (3, 4)),
    "row": ((3, 4), (4,)),
    "column": ((3, 4), (3, 1)),
    "leading": ((2, 3, 4), (3, 4)),
    "both": ((2, 1, 4), (3, 1)),
}
BINARY = {                # name: (op class, engine/numpy fn, torch fn, domain of a, domain of b)
    "add": (ops.Add, lambda a, b: a + b, lambda T, a, b: a + b, "normal", "normal"),
    "sub": (ops.Sub, lambda a, b: a - b, lambda T, a, b: a - b, "normal", "normal"),
    "mul": (ops.Mul, lambda a, b: a * b, lambda T, a, b: a * b, "normal", "normal"),
    "div": (ops.Div, lambda a, b: a / b, lambda T, a, b: a / b, "normal", "nonzero"),
    "pow": (ops.Pow, lambda a, b: a ** b, lambda T, a, b: a ** b, "positive", "normal"),
    "maximum": (ops.Maximum, maximum, lambda T, a, b: T.maximum(a, b), "normal", "normal"),
    "minimum": (ops.Maximum, minimum, lambda T, a, b: T.minimum(a, b), "normal", "normal"),
}
NP_BINARY = {"maximum": np.maximum, "minimum": np.minimum}


def _binary_cases():
    cases = []
    for name, (op, fn, tfn, kind_a, kind_b) in BINARY.items():
        ref = NP_BINARY.get(name, fn)
        for bname, (sa, sb) in BROADCASTS.items():
            cases.append(OpCase(f"{name}-{bname}", op, fn, ref, (Arg(sa, kind_a), Arg(sb, kind_b)), tfn))
    tie = Arg((2, 3), "fixed", (1.0, -2.0, 3.0, 0.5, 0.5, -1.0))
    other = Arg((2, 3), "fixed", (1.0, 0.0, 3.0, 0.5, 2.0, -1.0))
    cases += [
        OpCase("maximum-ties", ops.Maximum, maximum, np.maximum, (tie, other),
               lambda T, a, b: T.maximum(a, b), second_order=False),
        OpCase("minimum-ties", ops.Maximum, minimum, np.minimum, (tie, other),
               lambda T, a, b: T.minimum(a, b), second_order=False),
        OpCase("rsub-scalar", ops.Sub, lambda x: 2.0 - x, lambda x: 2.0 - x, (Arg((3, 4)),), lambda T, x: 2.0 - x),
        OpCase("rdiv-scalar", ops.Div, lambda x: 2.0 / x, lambda x: 2.0 / x, (Arg((3, 4), "nonzero"),),
               lambda T, x: 2.0 / x),
        OpCase("div-by-python-float", ops.Div, lambda x: x / 4.0, lambda x: x / 4.0, (Arg((3, 4)),),
               lambda T, x: x / 4.0),
        OpCase("radd-rmul-scalar", ops.Mul, lambda x: 3.0 * (1.0 + x), lambda x: 3.0 * (1.0 + x), (Arg((3, 4)),),
               lambda T, x: 3.0 * (1.0 + x)),
        OpCase("rpow-scalar-base", ops.Pow, lambda x: 2.0 ** x, lambda x: 2.0 ** x, (Arg((3, 4)),),
               lambda T, x: 2.0 ** x),
        OpCase("pow-base-zero", ops.Pow, lambda a, b: a ** b, lambda a, b: a ** b,
               (Arg((4,), "fixed", (0.0, 0.5, 0.0, 2.0)), Arg((4,), "fixed", (2.0, -1.5, 3.0, 0.5))),
               lambda T, a, b: a ** b, second_order=False),  # log a is undefined just below 0
        OpCase("pow-scalar-0-at-zero", ops.PowScalar, lambda x: x ** 0, lambda x: x ** 0.0,
               (Arg((3,), "fixed", (0.0, 1.0, -2.0)),), lambda T, x: x ** 0, second_order=False),
        OpCase("mul-self", ops.Mul, lambda x: x * x, lambda x: x * x, (Arg((3, 4)),), lambda T, x: x * x),
    ]
    for p in (2, 3, 0.5, -1, 1.5, -2.5, 0):  # x ** 0: its gradient is a constant 0 with no graph (as PyTorch's)
        cases.append(OpCase(f"pow-scalar-{p}", ops.PowScalar, lambda x, p=p: x ** p, lambda x, p=p: x ** float(p),
                            (Arg((3, 4), "positive"),), lambda T, x, p=p: x ** p, second_order=p != 0))
    return cases


# ----- unary elementwise ops ------------------------------------------------------
def _unary_cases():
    big = Arg((6,), "fixed", (-30.0, -5.0, -0.5, 0.5, 5.0, 30.0))
    return [
        OpCase("neg", ops.Neg, lambda x: -x, np.negative, (Arg((3, 4)),), lambda T, x: -x),
        OpCase("exp", ops.Exp, Tensor.exp, np.exp, (Arg((3, 4)),), lambda T, x: x.exp()),
        OpCase("log", ops.Log, Tensor.log, np.log, (Arg((3, 4), "positive"),), lambda T, x: x.log()),
        OpCase("tanh", ops.Tanh, Tensor.tanh, np.tanh, (Arg((3, 4)),), lambda T, x: x.tanh()),
        OpCase("sigmoid", ops.Sigmoid, Tensor.sigmoid, _sigmoid, (Arg((3, 4)),), lambda T, x: x.sigmoid()),
        OpCase("sigmoid-large", ops.Sigmoid, Tensor.sigmoid, _sigmoid, (big,), lambda T, x: x.sigmoid()),
        OpCase("relu", ops.Relu, Tensor.relu, lambda x: np.maximum(x, 0.0), (Arg((3, 4), "nonzero"),),
               lambda T, x: x.relu()),
        OpCase("sqrt", ops.Sqrt, Tensor.sqrt, np.sqrt, (Arg((3, 4), "positive"),), lambda T, x: x.sqrt()),
        OpCase("abs", ops.Abs, Tensor.abs, np.abs, (Arg((3, 4), "nonzero"),), lambda T, x: x.abs()),
        OpCase("abs-at-zero", ops.Abs, Tensor.abs, np.abs, (Arg((3,), "fixed", (-1.0, 0.0, 2.0)),),
               lambda T, x: x.abs(), second_order=False),
        OpCase("erf", ops.Erf, ops.Erf.apply, _erf, (Arg((3, 4)),), lambda T, x: T.erf(x)),
    ]


# ----- reductions -----------------------------------------------------------------
AXES = (None, 0, -1, (0, 2), (-1, -3), (1,))
REDUCTIONS = {            # name: (op class, engine fn, numpy fn, torch fn)
    "sum": (ops.Sum, Tensor.sum, np.sum, lambda T, x, a, k: T.sum(x, dim=_dims(a, x.ndim), keepdim=k)),
    "mean": (ops.Sum, Tensor.mean, np.mean, lambda T, x, a, k: T.mean(x, dim=_dims(a, x.ndim), keepdim=k)),
    "max": (ops.Max, Tensor.max, np.max, lambda T, x, a, k: T.amax(x, dim=_dims(a, x.ndim), keepdim=k)),
    "min": (ops.Min, Tensor.min, np.min, lambda T, x, a, k: T.amin(x, dim=_dims(a, x.ndim), keepdim=k)),
    "var": (ops.Sum, Tensor.var, np.var,
            lambda T, x, a, k: T.var(x, dim=_dims(a, x.ndim), keepdim=k, correction=0)),
}


def _reduction_cases():
    cases = []
    for name, (op, fn, ref, tfn) in REDUCTIONS.items():
        for axis in AXES:
            for keepdims in (False, True):
                cases.append(OpCase(
                    f"{name}-axis{axis}-keep{int(keepdims)}", op,
                    lambda x, fn=fn, a=axis, k=keepdims: fn(x, a, k),
                    lambda x, ref=ref, a=axis, k=keepdims: ref(x, axis=a, keepdims=k),
                    (Arg((2, 3, 4)),), lambda T, x, tfn=tfn, a=axis, k=keepdims: tfn(T, x, a, k)))
    ties = Arg((2, 3), "fixed", (1.0, 3.0, 3.0, -2.0, -2.0, 0.5))
    cases += [
        OpCase("max-ties-rows", ops.Max, lambda x: x.max(1), lambda x: x.max(1), (ties,),
               lambda T, x: T.amax(x, 1), second_order=False),
        OpCase("min-ties-rows", ops.Min, lambda x: x.min(-1), lambda x: x.min(-1), (ties,),
               lambda T, x: T.amin(x, -1), second_order=False),
        OpCase("max-ties-all", ops.Max, lambda x: x.max(), lambda x: x.max(), (ties,),
               lambda T, x: T.amax(x), second_order=False),
        OpCase("var-ddof1", ops.Sum, lambda x: x.var(1, ddof=1), lambda x: x.var(1, ddof=1), (Arg((3, 4)),),
               lambda T, x: T.var(x, 1, correction=1)),
        OpCase("sum-0d", ops.Sum, lambda x: x.sum(), lambda x: x.sum(), (Arg(()),), lambda T, x: x.sum()),
        OpCase("sum_to", ops.SumTo, lambda x: x.sum_to((3, 1)), lambda x: x.sum(0).sum(-1, keepdims=True),
               (Arg((2, 3, 4)),), lambda T, x: x.sum(0).sum(-1, keepdim=True)),
        OpCase("broadcast_to", ops.Expand, lambda x: x.broadcast_to((2, 3, 4)),
               lambda x: np.broadcast_to(x, (2, 3, 4)), (Arg((3, 1)),), lambda T, x: x.broadcast_to((2, 3, 4))),
    ]
    return cases


# ----- shape ops and indexing ----------------------------------------------------
INDEXES = {               # name: (index for engine/numpy, input shape)
    "int": (1, (3, 4)),
    "int-negative-pair": ((-1, 2), (3, 4)),
    "slices": ((slice(1, None), slice(None, None, 2)), (3, 4)),
    "slice-negative-step": ((slice(None, None, -1),), (4, 2)),
    "none-ellipsis": ((None, Ellipsis, 1), (2, 3, 4)),
    "ellipsis-none-slice": ((Ellipsis, None, slice(0, 2)), (2, 3, 4)),
    "int-array": (np.array([2, 0]), (3, 4)),
    "int-array-repeated": (np.array([0, 0, 2, 0]), (3, 4)),
    "int-array-2d-rows": (np.array([[0, 1], [1, 4], [4, 4]]), (5, 3)),
    "int-array-negative-rows": (np.array([-1, 0, -1, 3]), (4, 3)),
    "int-array-empty": (np.array([], dtype=np.int64), (4, 3)),
    "two-int-arrays-repeated": ((np.array([0, 1, 1, 1]), np.array([2, 2, 0, 2])), (3, 4)),
    "int-array-and-slice": ((np.array([1, 1, 0]), slice(1, 3)), (3, 4)),
    "slice-and-int-array": ((slice(None), np.array([3, 3, 0])), (2, 4)),
    "list": ([0, 2, 2], (3, 4)),
    "none-int-array": ((None, np.array([0, 2, 2])), (3, 4)),
    "ellipsis-int-array": ((Ellipsis, np.array([0, 3, 3])), (3, 4)),
    "int-array-none": ((np.array([1, 1]), None), (3, 4)),
    "int-and-int-array": ((1, np.array([0, 0, 2])), (3, 4)),
    "int-array-3d": (np.array([[[0]], [[2]]]), (3, 4)),
    "bool-mask-rows-and-slice": ((np.array([True, False, True]), slice(1, None)), (3, 4)),
    "ellipsis-bool-mask": ((Ellipsis, np.array([True, False, True, True])), (3, 4)),
    "bool-mask-full": (np.array([[True, False, True, False], [False, False, True, True], [True, True, False, False]]),
                       (3, 4)),
    "bool-mask-rows": (np.array([True, False, True]), (3, 4)),
}


def _torch_index(T, idx):
    """The same index with numpy arrays turned into torch tensors."""
    conv = (lambda i: T.as_tensor(i) if isinstance(i, (np.ndarray, list)) else i)
    return tuple(conv(i) for i in idx) if isinstance(idx, tuple) else conv(idx)


def _shape_cases():
    cases = [
        OpCase("reshape", ops.Reshape, lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1), (Arg((2, 3, 4)),),
               lambda T, x: x.reshape(4, -1)),
        OpCase("reshape-flat-tuple", ops.Reshape, lambda x: x.reshape((24,)), lambda x: x.reshape(24),
               (Arg((2, 3, 4)),), lambda T, x: x.reshape(24)),
        OpCase("transpose-default", ops.Transpose, lambda x: x.transpose(), lambda x: x.transpose(),
               (Arg((2, 3, 4)),), lambda T, x: x.permute(2, 1, 0)),
        OpCase("transpose-axes", ops.Transpose, lambda x: x.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1),
               (Arg((2, 3, 4)),), lambda T, x: x.permute(2, 0, 1)),
        OpCase("T", ops.Transpose, lambda x: x.T, lambda x: x.T, (Arg((3, 4)),), lambda T, x: x.T),
        OpCase("swapaxes", ops.Transpose, lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1),
               (Arg((2, 3, 4)),), lambda T, x: x.swapaxes(0, -1)),
        OpCase("index-add-repeated", ops.IndexAdd,
               lambda g: ops.IndexAdd.apply(g, shape=(4, 3), idx=(np.array([0, 3, 0]),), basic=False),
               lambda g: np.stack([g[0] + g[2], 0 * g[0], 0 * g[0], g[1]]), (Arg((3, 3)),),
               lambda T, g: T.zeros(4, 3, dtype=g.dtype).index_put((T.tensor([0, 3, 0]),), g, accumulate=True)),
        OpCase("index-tensor-index", ops.Index, lambda x: x[Tensor(np.array([[1, 0], [1, 1]]))],
               lambda x: x[np.array([[1, 0], [1, 1]])], (Arg((2, 3)),), lambda T, x: x[T.tensor([[1, 0], [1, 1]])]),
    ]
    for name, (idx, shape) in INDEXES.items():
        tfn = (lambda T, x: x.flip(0)) if name == "slice-negative-step" else (  # torch has no negative steps
            lambda T, x, i=idx: x[_torch_index(T, i)])
        cases.append(OpCase(f"index-{name}", ops.Index, lambda x, i=idx: x[i], lambda x, i=idx: x[i],
                            (Arg(shape),), tfn))
    return cases


# ----- joins and selection -------------------------------------------------------
_COND = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])


def _join_cases():
    a, b, c = Arg((2, 3)), Arg((2, 1)), Arg((2, 2))
    return [
        OpCase("concatenate-axis0", ops.Concatenate, lambda x, y: concatenate([x, y], 0),
               lambda x, y: np.concatenate([x, y], 0), (Arg((2, 3)), Arg((1, 3))), lambda T, x, y: T.cat([x, y], 0)),
        OpCase("concatenate-axis-1-three", ops.Concatenate, lambda x, y, z: concatenate([x, y, z], -1),
               lambda x, y, z: np.concatenate([x, y, z], -1), (a, b, c), lambda T, x, y, z: T.cat([x, y, z], -1)),
        OpCase("concatenate-with-constant", ops.Concatenate,
               lambda x: concatenate([x, Tensor(np.ones((2, 2), x.dtype))], 1),
               lambda x: np.concatenate([x, np.ones((2, 2))], 1), (a,),
               lambda T, x: T.cat([x, T.ones(2, 2, dtype=x.dtype)], 1)),
        OpCase("stack-axis0", ops.Concatenate, lambda x, y: stack([x, y]), lambda x, y: np.stack([x, y]),
               (Arg((2, 3)), Arg((2, 3))), lambda T, x, y: T.stack([x, y])),
        OpCase("stack-axis-1", ops.Concatenate, lambda x, y: stack([x, y], -1), lambda x, y: np.stack([x, y], -1),
               (Arg((2, 3)), Arg((2, 3))), lambda T, x, y: T.stack([x, y], -1)),
        OpCase("where", ops.Where, lambda x, y: where(_COND, x, y), lambda x, y: np.where(_COND, x, y),
               (Arg((3, 4)), Arg((3, 4))), lambda T, x, y: T.where(T.as_tensor(_COND), x, y)),
        OpCase("where-broadcast", ops.Where, lambda x, y: where(_COND, x, y), lambda x, y: np.where(_COND, x, y),
               (Arg((3, 1)), Arg((4,))), lambda T, x, y: T.where(T.as_tensor(_COND), x, y)),
        OpCase("where-scalar", ops.Where, lambda x: where(Tensor(_COND), x, 0.0),
               lambda x: np.where(_COND, x, 0.0), (Arg((3, 4)),), lambda T, x: T.where(T.as_tensor(_COND), x, 0.0)),
    ]


# ----- matmul in every shape combination -----------------------------------------
MATMUL_SHAPES = {
    "1d-1d": ((3,), (3,)),
    "1d-2d": ((3,), (3, 4)),
    "2d-1d": ((4, 3), (3,)),
    "2d-2d": ((2, 3), (3, 4)),
    "3d-2d": ((2, 3, 4), (4, 2)),
    "2d-3d": ((3, 4), (2, 4, 2)),
    "3d-1d": ((2, 3, 4), (4,)),
    "1d-3d": ((4,), (2, 4, 3)),
    "3d-3d": ((2, 3, 4), (2, 4, 2)),
    "4d-broadcast": ((2, 1, 3, 4), (1, 2, 4, 2)),
    "4d-3d": ((2, 2, 2, 3), (2, 3, 2)),
}


def _matmul_cases():
    cases = [OpCase(f"matmul-{name}", ops.MatMul, lambda a, b: a @ b, lambda a, b: a @ b, (Arg(sa), Arg(sb)),
                    lambda T, a, b: a @ b) for name, (sa, sb) in MATMUL_SHAPES.items()]
    cases.append(OpCase("linear", ops.Linear, F.linear, lambda x, w, b: x @ w.T + b,
                        (Arg((2, 3, 4)), Arg((5, 4)), Arg((5,))), lambda T, x, w, b: T.nn.functional.linear(x, w, b)))
    cases.append(OpCase("linear-no-bias-vector", ops.Linear, F.linear, lambda x, w: x @ w.T,
                        (Arg((4,)), Arg((5, 4))), lambda T, x, w: T.nn.functional.linear(x, w)))
    return cases


# ----- softmax family and cross entropy ------------------------------------------
_TARGETS = np.array([1, 0, 4, 4])
_TARGETS_IGNORED = np.array([1, -100, 4, -100])
_TARGETS_3D = np.array([[0, 2, 4], [1, 1, 3]])


def _softmax_cases():
    cases = [
        OpCase("softmax-last", ops.Softmax, F.softmax, lambda x: _softmax(x, -1), (Arg((3, 4)),),
               lambda T, x: T.softmax(x, -1)),
        OpCase("softmax-axis0", ops.Softmax, lambda x: F.softmax(x, 0), lambda x: _softmax(x, 0), (Arg((3, 4)),),
               lambda T, x: T.softmax(x, 0)),
        OpCase("log_softmax-last", ops.LogSoftmax, F.log_softmax, lambda x: np.log(_softmax(x, -1)),
               (Arg((2, 3, 4)),), lambda T, x: T.log_softmax(x, -1)),
        OpCase("log_softmax-axis1", ops.LogSoftmax, lambda x: F.log_softmax(x, 1), lambda x: np.log(_softmax(x, 1)),
               (Arg((2, 3, 4)),), lambda T, x: T.log_softmax(x, 1)),
        OpCase("logsumexp-all", ops.LogSumExp, F.logsumexp, lambda x: _logsumexp(x, None), (Arg((3, 4)),),
               lambda T, x: T.logsumexp(x, (0, 1))),
        OpCase("logsumexp-last", ops.LogSumExp, lambda x: F.logsumexp(x, -1), lambda x: _logsumexp(x, -1),
               (Arg((2, 3, 4)),), lambda T, x: T.logsumexp(x, -1)),
        OpCase("logsumexp-tuple-keepdims", ops.LogSumExp, lambda x: F.logsumexp(x, (0, 2), keepdims=True),
               lambda x: _logsumexp(x, (0, 2), True), (Arg((2, 3, 4)),),
               lambda T, x: T.logsumexp(x, (0, 2), keepdim=True)),
    ]
    ce = [("mean", _TARGETS, -100), ("sum", _TARGETS, -100), ("none", _TARGETS, -100),
          ("mean", _TARGETS_IGNORED, -100), ("sum", _TARGETS_IGNORED, -100), ("none", _TARGETS_IGNORED, -100),
          ("mean", _TARGETS, 4)]
    for reduction, t, ii in ce:
        tag = "" if ii == -100 and t is _TARGETS else f"-ignore{ii}" if ii != -100 else "-ignored"
        cases.append(OpCase(
            f"cross_entropy-{reduction}{tag}", ops.CrossEntropy,
            lambda x, t=t, r=reduction, ii=ii: F.cross_entropy(x, t, reduction=r, ignore_index=ii),
            lambda x, t=t, r=reduction, ii=ii: _cross_entropy(x, t, r, ii), (Arg((4, 5)),),
            lambda T, x, t=t, r=reduction, ii=ii: _torch_cross_entropy(T, x, t, r, ii)))
    cases.append(OpCase(
        "cross_entropy-3d-tensor-targets", ops.CrossEntropy, lambda x: F.cross_entropy(x, Tensor(_TARGETS_3D)),
        lambda x: _cross_entropy(x, _TARGETS_3D, "mean", -100), (Arg((2, 3, 5)),),
        lambda T, x: _torch_cross_entropy(T, x, _TARGETS_3D, "mean", -100)))
    return cases


# ----- fused ops, casts and composite functions ---------------------------------
def _fused_cases():
    x, w, b = Arg((2, 3, 4)), Arg((4,)), Arg((4,))
    return [
        OpCase("layer_norm-weight-bias", ops.LayerNorm, lambda x, w, b: F.layer_norm(x, 4, w, b),
               lambda x, w, b: _layer_norm(x, 1, w, b), (x, w, b),
               lambda T, x, w, b: T.nn.functional.layer_norm(x, (4,), w, b)),
        OpCase("layer_norm-plain", ops.LayerNorm, lambda x: F.layer_norm(x, (4,)), lambda x: _layer_norm(x, 1),
               (x,), lambda T, x: T.nn.functional.layer_norm(x, (4,))),
        OpCase("layer_norm-weight-only", ops.LayerNorm, lambda x, w: F.layer_norm(x, 4, w),
               lambda x, w: _layer_norm(x, 1, w), (x, w), lambda T, x, w: T.nn.functional.layer_norm(x, (4,), w)),
        OpCase("layer_norm-bias-only", ops.LayerNorm, lambda x, b: F.layer_norm(x, 4, None, b),
               lambda x, b: _layer_norm(x, 1, None, b), (x, b),
               lambda T, x, b: T.nn.functional.layer_norm(x, (4,), T.ones(4, dtype=x.dtype), b)),  # torch's
               # double backward fails for a bias without weight
        OpCase("layer_norm-two-axes-eps", ops.LayerNorm, lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=0.1),
               lambda x, w, b: _layer_norm(x, 2, w, b, eps=0.1), (x, Arg((3, 4)), Arg((3, 4))),
               lambda T, x, w, b: T.nn.functional.layer_norm(x, (3, 4), w, b, eps=0.1)),
        OpCase("gelu-erf", ops.Gelu, F.gelu, lambda x: _gelu(x, "none"), (Arg((3, 4)),),
               lambda T, x: T.nn.functional.gelu(x)),
        OpCase("gelu-tanh", ops.Gelu, lambda x: F.gelu(x, "tanh"), lambda x: _gelu(x, "tanh"), (Arg((3, 4)),),
               lambda T, x: T.nn.functional.gelu(x, approximate="tanh")),
        OpCase("gelu-wide-range", ops.Gelu, F.gelu, lambda x: _gelu(x, "none"),
               (Arg((6,), "fixed", (-8.0, -3.0, -0.1, 0.2, 3.0, 8.0)),), lambda T, x: T.nn.functional.gelu(x)),
        OpCase("cast-roundtrip", ops.Cast, lambda x: (x.astype(_flip(x.dtype)) * 3.0).astype(x.dtype),
               lambda x: x * 3.0, (Arg((3, 4)),), lambda T, x: (x.float() * 3.0).double(),
               gradcheck_kw={"eps": 1e-2, "atol": 1e-4}),
        OpCase("mse_loss", ops.Mul, F.mse_loss, lambda x, y: ((x - y) ** 2).mean(), (Arg((3, 4)), Arg((3, 4))),
               lambda T, x, y: T.nn.functional.mse_loss(x, y)),
        OpCase("embedding", ops.Index, lambda w: F.embedding(Tensor(np.array([[0, 2], [2, 2]])), w),
               lambda w: w[np.array([[0, 2], [2, 2]])], (Arg((3, 4)),),
               lambda T, w: T.nn.functional.embedding(T.tensor([[0, 2], [2, 2]]), w)),
    ]


# ----- attention -------------------------------------------------------------------
_DROP = (np.random.default_rng(7).random((1, 2, 3, 3)) >= 0.3) / 0.7   # a fixed dropout mask


def _attention(q, k, v, causal=False, scale=None, mask=None):
    s = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]) if scale is None else scale)  # (B, H, T, S)
    if causal:
        t, n = s.shape[-2:]
        s = np.where(np.tril(np.ones((t, n), bool), n - t), s, -np.inf)  # query i sees keys up to n - t + i
    p = _softmax(s, -1)
    return (p if mask is None else p * mask) @ v


def _torch_attention(T, q, k, v, causal=False, scale=None):
    t, n = q.shape[-2], k.shape[-2]
    keep = T.ones(t, n, dtype=T.bool).tril(n - t) if causal else None  # bottom-right aligned, like the engine
    with T.nn.attention.sdpa_kernel(T.nn.attention.SDPBackend.MATH):  # the kernel with double backward
        return T.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=scale)


def _attention_cases():
    q, kv = Arg((1, 2, 3, 4)), Arg((1, 2, 3, 4))
    short_q = Arg((1, 2, 2, 4))
    sdpa = F.scaled_dot_product_attention
    return [
        OpCase("attention", ops.Attention, sdpa, _attention, (q, kv, kv), _torch_attention),
        OpCase("attention-causal", ops.Attention, lambda q, k, v: sdpa(q, k, v, is_causal=True),
               lambda q, k, v: _attention(q, k, v, True), (q, kv, kv),
               lambda T, q, k, v: _torch_attention(T, q, k, v, True)),
        OpCase("attention-causal-shorter-query", ops.Attention, lambda q, k, v: sdpa(q, k, v, is_causal=True),
               lambda q, k, v: _attention(q, k, v, True), (short_q, kv, kv),
               lambda T, q, k, v: _torch_attention(T, q, k, v, True)),
        OpCase("attention-scale", ops.Attention, lambda q, k, v: sdpa(q, k, v, scale=0.7),
               lambda q, k, v: _attention(q, k, v, scale=0.7), (q, kv, Arg((1, 2, 3, 2))),
               lambda T, q, k, v: _torch_attention(T, q, k, v, scale=0.7)),
        OpCase("attention-packed-qkv", ops.Attention,
               lambda qkv: sdpa(qkv[0], qkv[1], qkv[2], is_causal=True),
               lambda qkv: _attention(qkv[0], qkv[1], qkv[2], True), (Arg((3, 1, 2, 3, 4)),),
               lambda T, qkv: _torch_attention(T, qkv[0], qkv[1], qkv[2], True)),
        OpCase("attention-fixed-dropout-mask", ops.Attention,
               lambda q, k, v: ops.Attention.apply(q, k, v, is_causal=True, scale=0.5,
                                                   dropout_mask=_DROP.astype(q.dtype)),
               lambda q, k, v: _attention(q, k, v, True, 0.5, _DROP), (q, kv, kv)),
    ]


CASES = (_binary_cases() + _unary_cases() + _reduction_cases() + _shape_cases() + _join_cases()
         + _matmul_cases() + _softmax_cases() + _fused_cases() + _attention_cases())
