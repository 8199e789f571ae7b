"""Numerical gradient checking: central differences in float64 against backward."""
import numpy as np

from engine.grad_mode import no_grad
from engine.tensor import Tensor


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the numerical one."""


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check the gradients of `fn(*inputs)` against central differences, in float64.

    Floating-point inputs that require grad are copied to float64 and checked
    element by element; the output is reduced to a scalar with fixed random weights,
    so every element of it takes part. Returns True, or raises `GradcheckError`
    naming the input and element that disagree.
    """
    inputs = list(inputs)
    xs = [Tensor(np.array(t.data, dtype=np.float64), requires_grad=True)
          if isinstance(t, Tensor) and t.requires_grad else t for t in inputs]
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    out = fn(*xs)
    weights = np.random.default_rng(seed).standard_normal(out.shape)

    def scalar():
        with no_grad():
            return float((fn(*xs).data * weights).sum())

    (out * Tensor(weights)).sum().backward()
    for i in checked:
        x = xs[i]
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.data
        flat = x.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = scalar()
            flat[j] = orig - eps
            down = scalar()
            flat[j] = orig
            numeric = (up - down) / (2 * eps)
            got = analytic.reshape(-1)[j]
            if not abs(got - numeric) <= atol + rtol * abs(numeric):
                where = np.unravel_index(j, x.shape) if x.shape else ()
                raise GradcheckError(
                    f"gradcheck: gradient of input {i} (shape {x.shape}) at element {tuple(int(k) for k in where)}: "
                    f"analytic {got:.8g}, numerical {numeric:.8g}")
    return True
