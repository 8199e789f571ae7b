"""`Tensor`: a numpy array that remembers how it was computed.

A tensor holds its value in `.data` (a numpy ndarray) and, when it requires grad and
was produced by an op, a link `_ctx` to the graph node that made it. Every operator
and method here is a one-liner that hands the work to an op of the op table
(`engine/ops`), which computes the forward pass and knows the backward rule.
"""
import math

import numpy as np

from engine.display import tensor_html
from engine.grad_mode import clock, state

_FLOAT32 = np.dtype(np.float32)


def _to_array(data, dtype):
    """numpy arrays keep their dtype; Python floats and lists become float32."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data, dtype=dtype, copy=None) if dtype is not None else np.asarray(data)
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return arr


def _index_arrays(idx):
    """Turn tensors inside an index into arrays and boolean masks into integer arrays."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    out, basic = [], True
    for i in idx:
        if isinstance(i, Tensor):
            i = i.data
        if isinstance(i, list):
            i = np.asarray(i)
        if isinstance(i, np.ndarray):
            basic = False
            if i.dtype == np.bool_:
                out.extend(i.nonzero())
                continue
            if i.dtype.kind not in "iu":
                raise IndexError(f"index arrays must be integers or booleans, not {i.dtype}")
        elif isinstance(i, bool) or not (i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))):
            raise IndexError(f"unsupported index {i!r}: use ints, slices, None, ..., integer arrays or masks")
        out.append(i)
    return tuple(out), basic


def _reduced_count(shape, axis):
    """How many elements a reduction over `axis` combines into each result."""
    if axis is None:
        return math.prod(shape)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return math.prod(shape[a] for a in axes)


def _axes(args):
    """Accept both f(1, 2) and f((1, 2)) forms of a shape or permutation."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    `Tensor(data, requires_grad=False, dtype=None)`: numpy arrays keep their dtype,
    Python floats and lists become float32, integers stay integer (and cannot require
    grad). `.grad` accumulates over `backward()` calls until it is zeroed.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_version", "_changed_at", "_retains_grad", "name",
                 "_scope", "__weakref__")
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__, keeping the graph

    def __init__(self, data, requires_grad=False, dtype=None, name=None):
        self.data = _to_array(data, dtype)
        self.grad = None
        self._ctx = None
        self._version = 0     # how many times `.data` was changed in place
        self._changed_at = 0  # the clock's tick at the latest such change (0: never)
        self._retains_grad = False
        self.name = name
        self._scope = state.scope  # the module (or name_scope) it was made in: pictures draw it there
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        """A constant tensor around an existing ndarray (no copy, no checks)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t._version = 0
        t._changed_at = 0
        t._retains_grad = False
        t.name = None
        return t

    # ----- attributes -------------------------------------------------------
    @property
    def shape(self):
        """The shape tuple of `.data`."""
        return self.data.shape

    @property
    def dtype(self):
        """The numpy dtype of `.data`."""
        return self.data.dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self):
        """Number of elements (numpy's meaning of `size`)."""
        return self.data.size

    @property
    def T(self):
        """The tensor with its axes reversed."""
        return self.transpose()

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded op (parameters, inputs)."""
        return self._ctx is None

    @property
    def grad_fn(self):
        """The graph node that produced this tensor, or None for a leaf."""
        return self._ctx

    def requires_grad_(self, requires_grad=True):
        """Set `requires_grad` in place and return self (floating-point tensors only)."""
        if requires_grad and self.data.dtype.kind != "f":
            raise ValueError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}: "
                f"create it with dtype='float32' (e.g. Tensor([1, 2], dtype='float32'))")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be switched off on a leaf; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True
        return self

    # ----- autograd ---------------------------------------------------------
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf's `.grad`.

        A non-scalar tensor needs `grad`, a tensor of its shape. `retain_graph=True`
        keeps the saved values so that backward can run through the graph again;
        `create_graph=True` records the backward pass for higher derivatives.
        """
        autograd.backward(self, grad, retain_graph, create_graph)

    def detach(self):
        """A tensor sharing this data, cut off from the graph."""
        return Tensor._wrap(self.data)

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a one-element tensor, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        """The value as nested Python lists."""
        return self.data.tolist()

    def astype(self, dtype):
        """A copy converted to `dtype`; gradients flow back converted to the source dtype.

        A cast to an integer or boolean dtype is not differentiable: it gives a constant.
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            return Tensor._wrap(self.data.astype(dtype))
        return ops.Cast.apply(self, dtype=dtype)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ""
        if self._ctx is not None:
            extra = f", grad_fn=<{self._ctx.op.name}>"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        if self.data.dtype != _FLOAT32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"Tensor({body}{extra})"

    def _repr_html_(self):
        """The tensor in a notebook: shape, dtype, how it was made, and its values (or a summary)."""
        return tensor_html(self.data, self.requires_grad, None if self._ctx is None else self._ctx.op.name,
                           self.name, self.grad is not None)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __bool__(self):
        return bool(self.data)

    __hash__ = object.__hash__

    # ----- arithmetic -------------------------------------------------------
    def _lift(self, other):
        """Turn a Python number or array into a constant tensor for a binary op."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, (int, float, bool)):
            dt = self.data.dtype
            if dt.kind != "f" and isinstance(other, float):
                dt = _FLOAT32
            return Tensor._wrap(np.asarray(other, dtype=dt))
        return Tensor(other)

    def __add__(self, other):
        return ops.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return ops.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return ops.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return ops.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._lift(other), self)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return ops.PowScalar.apply(self, p=other)
        return ops.Pow.apply(self, self._lift(other))

    def __rpow__(self, other):
        return ops.Pow.apply(self._lift(other), self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._lift(other), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    # ----- in place (no graph: for parameter updates under no_grad) ----------
    def _changed_in_place(self):
        """Note that `.data` was just changed in place: a graph that saved this tensor now refuses to backprop.

        Everything that writes into a tensor's array (the operators below, optimizers)
        calls this, so that backward can find out (`engine.autograd`).
        """
        self._version += 1
        self._changed_at = state.last_change = next(clock)

    def _inplace(self, fn, other):
        self._check_inplace(other)
        fn(self.data, other.data if isinstance(other, Tensor) else other, out=self.data, casting="same_kind")
        self._changed_in_place()
        return self

    def _check_inplace(self, other):
        if state.grad_enabled and (self.requires_grad or getattr(other, "requires_grad", False)):
            raise RuntimeError(
                "in-place operation on a tensor that requires grad while recording a graph: "
                "wrap it in `with no_grad():` (parameter updates) or write x = x + y")

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.true_divide, other)

    def zero_(self):
        """Set every element to zero, in place (NaN and inf too: the array is filled, not scaled)."""
        self._check_inplace(None)
        self.data.fill(0)
        self._changed_in_place()
        return self

    # ----- comparisons (not differentiable) ---------------------------------
    def _compare(self, fn, other):
        return Tensor._wrap(np.asarray(fn(self.data, other.data if isinstance(other, Tensor) else other)))

    def __lt__(self, other):
        return self._compare(np.less, other)

    def __le__(self, other):
        return self._compare(np.less_equal, other)

    def __gt__(self, other):
        return self._compare(np.greater, other)

    def __ge__(self, other):
        return self._compare(np.greater_equal, other)

    def __eq__(self, other):
        return self._compare(np.equal, other)

    def __ne__(self, other):
        return self._compare(np.not_equal, other)

    # ----- elementwise functions --------------------------------------------
    def exp(self):
        """e ** x, elementwise."""
        return ops.Exp.apply(self)

    def log(self):
        """Natural logarithm, elementwise."""
        return ops.Log.apply(self)

    def tanh(self):
        """Hyperbolic tangent, elementwise."""
        return ops.Tanh.apply(self)

    def sigmoid(self):
        """1 / (1 + e ** -x), elementwise, without overflow."""
        return ops.Sigmoid.apply(self)

    def relu(self):
        """max(x, 0), elementwise."""
        return ops.Relu.apply(self)

    def sqrt(self):
        """Square root, elementwise."""
        return ops.Sqrt.apply(self)

    def abs(self):
        """Absolute value, elementwise (gradient 0 at 0, like PyTorch)."""
        return ops.Abs.apply(self)

    # ----- reductions -------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        """Sum over `axis` (None: all; int or tuple; negative counts from the end)."""
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Mean over `axis` (None: all; int or tuple)."""
        return self.sum(axis, keepdims) * (1.0 / max(_reduced_count(self.data.shape, axis), 1))

    def var(self, axis=None, keepdims=False, ddof=0):
        """Variance over `axis` (biased unless ddof=1)."""
        mu = self.mean(axis, keepdims=True)
        d = self - mu
        n = _reduced_count(self.data.shape, axis)
        return (d * d).sum(axis, keepdims) * (1.0 / max(n - ddof, 1))

    def max(self, axis=None, keepdims=False):
        """Maximum over `axis`; ties share the gradient equally."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        """Minimum over `axis`; ties share the gradient equally."""
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None):
        """Index of the maximum (an integer tensor, not differentiable)."""
        return Tensor._wrap(np.asarray(self.data.argmax(axis=axis)))

    def sum_to(self, shape):
        """Sum broadcast dimensions away so the result has `shape` (undoes broadcasting)."""
        return ops.SumTo.apply(self, shape=tuple(shape))

    def broadcast_to(self, shape):
        """This tensor broadcast to `shape` (a view; its gradient is summed back)."""
        return ops.Expand.apply(self, shape=tuple(shape))

    # ----- shape ------------------------------------------------------------
    def reshape(self, *shape):
        """The same elements in a new shape (one dimension may be -1)."""
        return ops.Reshape.apply(self, shape=_axes(shape))

    def transpose(self, *axes):
        """Permute the axes (no arguments: reverse them), like numpy."""
        axes = _axes(axes) or tuple(range(self.data.ndim - 1, -1, -1))
        return ops.Transpose.apply(self, axes=axes)

    def swapaxes(self, axis1, axis2):
        """Exchange two axes."""
        axes = list(range(self.data.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return ops.Transpose.apply(self, axes=tuple(axes))

    def __getitem__(self, idx):
        idx, basic = _index_arrays(idx)
        return ops.Index.apply(self, idx=idx, basic=basic)


# The one late import (docs/architecture.md, "The layers"): Tensor is the bottom of the
# engine, yet its operators hand their work to the op classes and `.backward()` to the
# graph walker, and both of those build on Tensor. Importing them here, once the class
# exists, is the only place where the engine reaches a layer above.
from engine import autograd, ops  # noqa: E402  # the one late import
