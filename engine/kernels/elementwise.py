"""Elementwise kernels: powers, the error function, GELU and its slope.

Each computes what its op states plainly, the way numpy is fast at it: `x * x * x`
rather than `x ** 3` (18 ms against 0.06 ms on 393k float32 elements), the error
function from a rational approximation evaluated in place (`out=` buffers), and the
long GELU passes split over threads.
"""
import math

import numpy as np

from engine.kernels.threads import for_blocks

# Abramowitz & Stegun 7.1.26: erf(a) = 1 - poly(t) * exp(-a*a), t = 1 / (1 + P*a), a >= 0,
# |error| < 1.5e-7, below float32 resolution.
_ERF_P = 0.3275911
_ERF_A = (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
_erf_exact = np.frompyfunc(math.erf, 1, 1)
_LOG_INV_SQRT_2PI = -0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def power(x, p):
    """x ** p for a Python number p."""
    if p == 2:
        return x * x
    if p == 3:
        return x * x * x
    if p == 0.5:
        return np.sqrt(x)
    if p == -1:
        return 1.0 / x
    return np.power(x, p)


def erf_tail(a, scale=1.0, log_factor=0.0):
    """For a = |z| in float32: (scale * poly(t) / f, f * exp(-a*a)) with f = exp(log_factor).

    Their product is scale * (1 - erf(a)). Overwrites `a` with f * exp(-a*a). Both come
    back so that GELU can keep the normal density (f = 1/sqrt(2 pi)) without a pass of
    its own.
    """
    t = a * _ERF_P
    t += 1.0
    np.reciprocal(t, out=t)
    scale *= math.exp(-log_factor)
    poly = t * (_ERF_A[0] * scale)
    for c in _ERF_A[1:]:
        poly += c * scale
        poly *= t
    np.multiply(a, a, out=a)
    np.subtract(log_factor, a, out=a)
    np.exp(a, out=a)
    return poly, a


def erf(x):
    """The error function of an array: exact in float64, to 1.5e-7 in float32."""
    if x.dtype == np.float64:
        return _erf_exact(x).astype(np.float64)
    poly, e = erf_tail(np.abs(x))
    poly *= e
    np.subtract(1.0, poly, out=poly)
    return np.copysign(poly, x, out=poly)


def _normal_cdf_and_density(x, density=None):
    """(Phi(x), phi(x)): the normal CDF and density; the density is written into `density` when given."""
    if x.dtype == np.float64:
        cdf = erf(x * (1.0 / math.sqrt(2.0)))
        cdf += 1.0
        cdf *= 0.5
        e = np.exp(x * x * -0.5) * _INV_SQRT_2PI
        if density is None:
            return cdf, e
        density[...] = e
        return cdf, density
    a = np.abs(x, out=density)
    a *= 1.0 / math.sqrt(2.0)
    q, e = erf_tail(a, scale=0.5, log_factor=_LOG_INV_SQRT_2PI)   # q*e = (1 - erf(|x|/sqrt 2))/2
    q *= e
    np.subtract(0.5, q, out=q)
    np.copysign(q, x, out=q)
    q += 0.5
    return q, e


def gelu(x, with_slope):
    """(x * Phi(x), its slope Phi(x) + x * phi(x) if `with_slope` else None), shaped like x."""
    flat = x.reshape(-1)
    y = np.empty_like(flat)
    slope = np.empty_like(flat) if with_slope else None

    def block(s, e):
        cdf, density = _normal_cdf_and_density(flat[s:e], density=None if slope is None else slope[s:e])
        np.multiply(flat[s:e], cdf, out=y[s:e])
        if slope is not None:
            density *= flat[s:e]
            density += cdf

    for_blocks(block, flat.size, flat.size)
    return y.reshape(x.shape), None if slope is None else slope.reshape(x.shape)


def gelu_backward(g, x, slope):
    """g * slope, the gradient through GELU, given the slope `gelu` kept (computed from x if it kept None)."""
    if slope is None:
        slope = gelu(x, with_slope=True)[1]
    gf, sf = g.reshape(-1), slope.reshape(-1)
    d = np.empty_like(gf)

    def block(s, e):
        np.multiply(gf[s:e], sf[s:e], out=d[s:e])

    for_blocks(block, gf.size, gf.size)
    return d.reshape(g.shape)
