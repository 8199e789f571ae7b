"""stepgrad's engine: tensors with reverse-mode automatic differentiation on numpy.

    from engine import Tensor
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # Tensor([2., 4., 6.])
"""
from engine.tensor import Tensor  # first: the modules below build on it
from engine.autograd import grad
from engine.errors import ShapeError
from engine.factories import (arange, concatenate, maximum, minimum, ones, ones_like, rand, randn, stack,
                              tensor, where, zeros, zeros_like)
from engine.grad_mode import detect_anomaly, enable_grad, is_grad_enabled, name_scope, no_grad, set_grad_enabled
from engine.gradcheck import GradcheckError, gradcheck
from engine.random import get_rng, get_rng_state, manual_seed, set_rng_state
from engine import functional, nn, parallel
from engine.allocator import tune_malloc
from engine.blas_threads import shorten_idle_spin
from engine.trace import trace_backward

MALLOC_TUNED = tune_malloc()  # keep numpy's large temporaries for reuse (see engine/allocator.py)
shorten_idle_spin()  # free the cores soon after each matmul (see engine/blas_threads.py)

__all__ = [
    "Tensor", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "name_scope",
    "gradcheck", "GradcheckError", "ShapeError", "manual_seed", "get_rng", "get_rng_state", "set_rng_state",
    "zeros", "ones", "zeros_like", "ones_like", "randn", "rand", "arange", "tensor",
    "concatenate", "stack", "where", "maximum", "minimum", "functional", "nn", "tune_malloc", "trace_backward",
]
