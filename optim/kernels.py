"""The in-place array work of the first-order update rules, apart from the rules themselves.

An optimizer's `_update` states its rule as a list of these steps, one formula each
(see the docstrings: each gives the plain numpy it computes). What they add to the
plain numpy is speed: they change the state arrays and the parameter in place and
keep their temporaries in scratch arrays reused from step to step, so an update
allocates nothing. `tests/test_optim_kernels.py` checks every kernel against its
plain formula, bit for bit: the operations and their order are PyTorch's, so
trajectories still match `torch.optim`.

Each optimizer owns one `Kernels` (its scratch arrays, one per shape, dtype and use).
"""
import numpy as np

from engine import kernels as engine_kernels


class Kernels:
    """The update steps, with the scratch arrays they reuse."""

    def __init__(self):
        self._scratch = {}

    def _buffer(self, like, use):
        """A scratch array with `like`'s shape and dtype, one per `use`, kept for the next call."""
        key = (like.shape, like.dtype, use)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = np.empty_like(like)
        return buffer

    def gradient(self, param, grad, weight_decay=0.0, maximize=False):
        """g = (-grad if maximize else grad) + weight_decay * param  (grad itself when that changes nothing)."""
        if not maximize and weight_decay == 0:
            return grad
        g = self._buffer(param, "gradient")
        if maximize:
            np.negative(grad, out=g)
        else:
            np.copyto(g, grad)
        if weight_decay != 0:
            t = self._buffer(param, "tmp")
            np.multiply(param, weight_decay, out=t)
            g += t
        return g

    def lerp_(self, a, b, weight):
        """a <- a + weight * (b - a), rounded as `torch.lerp_`: b - (b - a) * (1 - weight) for weight >= 0.5."""
        t = self._buffer(a, "tmp")
        np.subtract(b, a, out=t)
        if abs(weight) < 0.5:
            t *= weight
            a += t
        else:
            t *= 1.0 - weight
            np.subtract(b, t, out=a)

    def ema_square_(self, v, g, beta):
        """v <- beta * v + (1 - beta) * g * g  (as g * (1 - beta) * g: PyTorch's addcmul order)."""
        t = self._buffer(v, "tmp")
        np.multiply(g, 1.0 - beta, out=t)
        t *= g
        v *= beta
        v += t

    def add_square_(self, s, g):
        """s <- s + g * g."""
        t = self._buffer(s, "tmp")
        np.multiply(g, g, out=t)
        s += t

    def momentum_(self, buf, g, momentum, dampening=0.0):
        """buf <- momentum * buf + (1 - dampening) * g."""
        t = self._buffer(buf, "tmp")
        np.multiply(g, 1.0 - dampening, out=t)
        buf *= momentum
        buf += t

    def nesterov(self, g, buf, momentum):
        """g + momentum * buf, in a scratch array."""
        out = self._buffer(buf, "nesterov")
        np.multiply(buf, momentum, out=out)
        out += g
        return out

    def quotient(self, numer, denom):
        """numer / denom, in a scratch array."""
        out = self._buffer(numer, "quotient")
        np.divide(numer, denom, out=out)
        return out

    def sub_scaled_(self, param, x, alpha):
        """param <- param - alpha * x."""
        t = self._buffer(param, "tmp")
        np.multiply(x, alpha, out=t)
        param -= t

    def denominator(self, v, eps, scale=1.0, mean=None):
        """sqrt(v - mean * mean) / scale + eps, in a scratch array (no mean: sqrt(v); scale 1: no division)."""
        d = self._buffer(v, "denominator")
        if mean is None:
            np.sqrt(v, out=d)
        else:
            np.multiply(mean, mean, out=d)
            np.subtract(v, d, out=d)
            np.sqrt(d, out=d)
        if scale != 1.0:
            d /= scale
        d += eps
        return d

    def divide_step_(self, param, numer, denom, step_size):
        """param <- param - step_size * numer / denom  (computed as param + (-step_size * numer) / denom)."""
        t = self._buffer(param, "tmp")
        np.multiply(numer, -step_size, out=t)
        t /= denom
        param += t

    @staticmethod
    def adam_(param, grad, m, v, decay, maximize, weight, beta2, scale, eps, step_size):
        """Adam's whole update of one parameter in one compiled pass, when the engine's kernels are on the
        compiled backend: θ *= decay, then the steps `gradient` (no decay), `lerp_(m, g, weight)`,
        `ema_square_(v, g, beta2)`, `denominator(v, eps, scale)`, `divide_step_(θ, m, denom, step_size)`,
        with the same numbers bit for bit. Returns False, having done nothing, on numpy's kernels or for
        arrays the compiled loop does not take (then the steps run one by one)."""
        if engine_kernels.backend() == "numpy":
            return False
        from engine.kernels import compiled
        return compiled.adamw_(param, grad, m, v, decay, maximize, weight, beta2, scale, eps, step_size)

