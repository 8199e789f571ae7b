"""stepgrad's engine: tensors with reverse-mode automatic differentiation on numpy.

    from engine import Tensor
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # Tensor([2., 4., 6.])

Importing the engine changes nothing outside it. `engine.tune()` switches on two
process-wide settings that make training steps faster (malloc and OpenBLAS; see
engine/kernels/tuning.py); the `stepgrad` command and the benchmark call it.
"""
from engine.tensor import Tensor
from engine.autograd import grad
from engine.errors import ShapeError
from engine.factories import (arange, concatenate, maximum, minimum, ones, ones_like, rand, randn, stack,
                              tensor, where, zeros, zeros_like)
from engine.grad_mode import detect_anomaly, enable_grad, is_grad_enabled, name_scope, no_grad, set_grad_enabled
from engine.gradcheck import GradcheckError, gradcheck
from engine.random import get_rng, get_rng_state, manual_seed, set_rng_state
from engine import functional, kernels, nn
from engine.kernels.tuning import tune
from engine.trace import trace_backward

__all__ = [
    "Tensor", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "name_scope",
    "gradcheck", "GradcheckError", "ShapeError", "manual_seed", "get_rng", "get_rng_state", "set_rng_state",
    "zeros", "ones", "zeros_like", "ones_like", "randn", "rand", "arange", "tensor",
    "concatenate", "stack", "where", "maximum", "minimum", "functional", "kernels", "nn", "tune", "trace_backward",
]
