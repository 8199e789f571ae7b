"""Functions that make tensors: constants, random tensors, and joins of several tensors."""
import numpy as np

from engine import ops
from engine.random import get_rng
from engine.tensor import Tensor, _axes


def zeros(*shape, dtype=np.float32, requires_grad=False):
    """A tensor of zeros (float32 unless `dtype` says otherwise)."""
    return Tensor(np.zeros(_axes(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False):
    """A tensor of ones (float32 unless `dtype` says otherwise)."""
    return Tensor(np.ones(_axes(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t, requires_grad=False):
    """Zeros with the shape and dtype of `t`."""
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    """Ones with the shape and dtype of `t`."""
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False):
    """Standard normal samples from the engine's generator (see `manual_seed`)."""
    return Tensor(get_rng().standard_normal(_axes(shape), dtype=np.dtype(dtype)), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False):
    """Uniform samples in [0, 1) from the engine's generator."""
    return Tensor(get_rng().random(_axes(shape), dtype=np.dtype(dtype)), requires_grad=requires_grad)


def arange(*args, dtype=None):
    """Evenly spaced values, like numpy.arange (integers stay integer)."""
    return Tensor(np.arange(*args, dtype=dtype))


def tensor(data, requires_grad=False, dtype=None):
    """Same as `Tensor(data, ...)`, PyTorch-style spelling."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _lift_all(ts):
    ts = [t if isinstance(t, Tensor) else Tensor(t) for t in ts]
    if not ts:
        raise ValueError("need at least one tensor to join")
    return ts


def concatenate(ts, axis=0):
    """Join tensors along an existing axis."""
    return ops.Concatenate.apply(*_lift_all(ts), axis=axis)


def stack(ts, axis=0):
    """Join tensors along a new axis."""
    ts = _lift_all(ts)
    axis = axis % (ts[0].ndim + 1)
    return concatenate([t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) for t in ts], axis=axis)


def where(cond, a, b):
    """Elementwise `a if cond else b`; `cond` is a boolean array or tensor (not differentiated)."""
    cond = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if cond.dtype != np.bool_:
        cond = cond.astype(bool)
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return ops.Where.apply(ref._lift(a), ref._lift(b), cond=cond)


def maximum(a, b):
    """Elementwise maximum of two tensors (ties share the gradient equally)."""
    ref = a if isinstance(a, Tensor) else Tensor(a)
    return ops.Maximum.apply(ref._lift(a), ref._lift(b))


def minimum(a, b):
    """Elementwise minimum of two tensors."""
    ref = a if isinstance(a, Tensor) else Tensor(a)
    return -ops.Maximum.apply(-ref._lift(a), -ref._lift(b))
