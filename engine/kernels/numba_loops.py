"""The compiled kernels' loops, for numba (`pip install 'stepgrad[fast]'`); imported on first use only.

Each loop computes what its numpy kernel computes, in one pass over memory, on float32
C-contiguous arrays (engine/kernels/compiled.py checks that and falls back to numpy
otherwise). What makes them fast, measured on a GELU of 768x512 float32 (DESIGN.md
part C and docs/benchmarks.md): only arithmetic that the compiler turns into SIMD
instructions inside a loop. A call to the C library's `expf` or `erff` per element
does not vectorize (a loop of `np.exp` took 12.9 ms against 0.095 ms for `_exp` below),
so the error function is a rational polynomial (Eigen's and XLA's float32 erf, error
4.2e-7) and `exp` a polynomial times 2**n built from its exponent bits (Cephes' expf,
relative error 1.2e-7). Each loop runs in the calling thread without the GIL
(`nogil`); engine/kernels/compiled.py splits the long ones over the engine's threads
(engine/kernels/threads.py) as the numpy kernels are, so numba's own thread pool
(OpenMP) is never started.

Compiled code is cached on disk, in the user's cache folder, so the compile cost
(seconds) is paid once per machine: `$NUMBA_CACHE_DIR` if set, else
`$XDG_CACHE_HOME/stepgrad/numba` (default `~/.cache/stepgrad/numba`).
"""
import os
from contextlib import contextmanager
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

f32 = np.float32
# fastmath without "no NaNs" and "no infinities" (masked scores are -inf) and without reassociation
# (it turned log(total) - (x - max) into log(total) - x + max, losing the digits of a small loss)
_FAST = {"nsz", "arcp", "contract", "afn"}


def cache_dir():
    """Where the compiled loops are kept between processes."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepgrad" / "numba"


@contextmanager
def _caching_in_user_folder():
    """numba's cache folder set to `cache_dir()` while the loops below are declared, then put back.

    numba fixes each function's cache folder when it is declared, so nothing else in
    the process sees the change. A cache folder the user chose (`NUMBA_CACHE_DIR`) wins.
    """
    chosen = numba.config.CACHE_DIR
    if not chosen:
        numba.config.CACHE_DIR = str(cache_dir())
    try:
        yield
    finally:
        numba.config.CACHE_DIR = chosen


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose bit pattern is the int32 `bits` (a reinterpretation, no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


with _caching_in_user_folder():
    # error_model="numpy": a division by zero gives inf as in numpy instead of raising, and that check
    # per element was what kept the loops from vectorizing (0.39 ms against 0.13 ms for a rational function)
    jit = numba.njit(cache=True, fastmath=_FAST, nogil=True, error_model="numpy")
    inline = numba.njit(cache=True, fastmath=_FAST, inline="always", error_model="numpy")
    exact_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
    summing_jit = numba.njit(cache=True, fastmath=_FAST | {"reassoc"}, nogil=True, error_model="numpy")

    @inline
    def _erf(z):
        """erf(z) as a rational polynomial in z (float32; exact to 4.2e-7)."""
        z = min(max(z, f32(-4.0)), f32(4.0))
        z2 = z * z
        p = z2 * f32(-2.72614225801306e-10) + f32(2.77068142495902e-08)
        p = z2 * p + f32(-2.10102402082508e-06)
        p = z2 * p + f32(-5.69250639462346e-05)
        p = z2 * p + f32(-7.34990630326855e-04)
        p = z2 * p + f32(-2.95459980854025e-03)
        p = z2 * p + f32(-1.60960333262415e-02)
        q = z2 * f32(-1.45660718464996e-05) + f32(-2.13374055278905e-04)
        q = z2 * q + f32(-1.68282697438203e-03)
        q = z2 * q + f32(-7.37332916720468e-03)
        q = z2 * q + f32(-1.42647390514189e-02)
        return z * p / q

    @inline
    def _exp(y):
        """exp(y) for float32 y: 2**n * exp(r), y = n*ln 2 + r, |r| <= ln(2)/2 (relative error 1.2e-7).

        Below -87 it returns exp(-87) ~ 1.6e-38 rather than 0 (the callers' products are
        far below float32's resolution then); -inf gives the same.
        """
        y = min(max(y, f32(-87.0)), f32(88.0))
        n = np.floor(y * f32(1.4426950408889634) + f32(0.5))
        r = y - n * f32(0.693359375) + n * f32(2.12194440e-4)        # ln 2 in two parts, for accuracy
        p = f32(1.9875691500e-4)
        p = p * r + f32(1.3981999507e-3)
        p = p * r + f32(8.3334519073e-3)
        p = p * r + f32(4.1665795894e-2)
        p = p * r + f32(1.6666665459e-1)
        p = p * r + f32(5.0000001201e-1)
        two_to_n = _float32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
        return (p * r * r + r + f32(1.0)) * two_to_n

    @inline
    def _normal_cdf(x):
        return f32(0.5) + f32(0.5) * _erf(x * f32(0.7071067811865476))

    # ----- GELU: y = x·Φ(x); dy/dx = Φ(x) + x·φ(x) ---------------------------------------
    @jit
    def gelu(x, y):
        """y = x * Phi(x) over flat arrays."""
        for i in range(x.size):
            y[i] = x[i] * _normal_cdf(x[i])

    @jit
    def gelu_with_slope(x, y, slope):
        """y = x * Phi(x) and slope = Phi(x) + x * phi(x) over flat arrays, in one pass."""
        for i in range(x.size):
            v = x[i]
            cdf = _normal_cdf(v)
            y[i] = v * cdf
            slope[i] = cdf + v * f32(0.3989422804014327) * _exp(f32(-0.5) * v * v)

    @jit
    def gelu_backward(g, x, dx):
        """dx = g * (Phi(x) + x * phi(x)) over flat arrays."""
        for i in range(x.size):
            v = x[i]
            density = f32(0.3989422804014327) * _exp(f32(-0.5) * v * v)
            dx[i] = g[i] * (_normal_cdf(v) + v * density)

    # ----- sums and maxima of a row: the only loops allowed to reassociate (so they vectorize) -----
    @summing_jit
    def _sum(v):
        total = f32(0.0)
        for j in range(v.size):
            total += v[j]
        return total

    @summing_jit
    def _dot(u, v):
        total = f32(0.0)
        for j in range(v.size):
            total += u[j] * v[j]
        return total

    @summing_jit
    def _max(v):
        m = f32(-np.inf)
        for j in range(v.size):
            m = max(m, v[j])
        return m

    # ----- layer norm over the rows of (N, D) ---------------------------------------------
    @jit
    def layer_norm(x, weight, bias, eps, y, xhat, rstd):
        """Per row: xhat = (x - mean) * rstd, rstd = 1/sqrt(var + eps), y = xhat * weight + bias."""
        n, d = x.shape
        inv_d = f32(1.0) / f32(d)
        for i in range(n):
            row, h = x[i], xhat[i]
            mean = _sum(row) * inv_d
            for j in range(d):
                h[j] = row[j] - mean
            r = f32(1.0) / np.sqrt(_dot(h, h) * inv_d + eps)
            rstd[i, 0] = r
            for j in range(d):
                h[j] *= r
                y[i, j] = h[j] * weight[j] + bias[j]

    @jit
    def layer_norm_backward(g, xhat, rstd, weight, dx, dweight, dbias):
        """dx = (ĝ - mean(ĝ) - xhat·mean(ĝ·xhat)) * rstd per row, ĝ = g·weight; adds the rows' sums of
        g·xhat into dweight and of g into dbias."""
        n, d = xhat.shape
        inv_d = f32(1.0) / f32(d)
        for i in range(n):
            gi, xi, di = g[i], xhat[i], dx[i]
            for j in range(d):
                di[j] = gi[j] * weight[j]                             # ĝ
                dweight[j] += gi[j] * xi[j]
                dbias[j] += gi[j]
            mean_g = _sum(di) * inv_d
            mean_gx = _dot(di, xi) * inv_d
            r = rstd[i, 0]
            for j in range(d):
                di[j] = (di[j] - mean_g - xi[j] * mean_gx) * r

    # ----- softmax over rows, with scale and causal mask, in place ---------------------------
    @jit
    def scaled_softmax(a, scale, causal, queries):
        """Each row of a (R, S) becomes softmax(row * scale), entries j > i + S - queries masked when
        `causal` (row r is query i = r % queries); probabilities below 1e-30 become 0.

        Every row's maximum first, then the exponentials: with each row's exp loop waiting on its own
        maximum, the GPT's attention rows (3,072 of 64) took 400 µs instead of 300."""
        rows, s = a.shape
        maxima = np.empty(rows, np.float32)
        for r in range(rows):
            last = s if not causal else r % queries + s - queries + 1   # entries from `last` on are masked
            row = a[r, :last]
            for j in range(last):
                row[j] *= scale
            maxima[r] = _max(row)
        for r in range(rows):
            last = s if not causal else r % queries + s - queries + 1
            row, m = a[r, :last], maxima[r]
            for j in range(last):
                row[j] = _exp(row[j] - m)
            inv = f32(1.0) / _sum(row)
            for j in range(last):
                p = row[j] * inv
                row[j] = p if p >= f32(1e-30) else f32(0.0)
            for j in range(last, s):
                a[r, j] = f32(0.0)

    @jit
    def scaled_softmax_backward(d, a, scale):
        """d (R, S), d loss / d softmax, becomes d loss / d scores: a * (d - rowsum(a * d)) * scale."""
        rows, s = a.shape
        for r in range(rows):
            dr, ar = d[r], a[r]
            dot = _dot(dr, ar)
            for j in range(s):
                dr[j] = ar[j] * (dr[j] - dot) * scale

    # ----- cross-entropy over the rows of logits (N, C) ---------------------------------------
    @jit
    def cross_entropy(x, targets, losses, probs):
        """Per row: losses = logsumexp(x) - x[target]; probs = softmax(x), values below 1e-30 set to 0."""
        n, c = x.shape
        for i in range(n):
            row, p = x[i], probs[i]
            m = _max(row)
            for j in range(c):
                p[j] = _exp(row[j] - m)
            total = _sum(p)
            inv = f32(1.0) / total
            for j in range(c):
                pj = p[j] * inv
                p[j] = pj if pj >= f32(1e-30) else f32(0.0)
            losses[i] = np.log(total) - (row[targets[i]] - m)

    @jit
    def cross_entropy_backward(probs, targets, weight, dx):
        """dx = (probs - onehot(targets)) * weight per row (weight (N,))."""
        n, c = probs.shape
        for i in range(n):
            w = weight[i]
            for j in range(c):
                dx[i, j] = probs[i, j] * w
            t = targets[i]
            dx[i, t] = (probs[i, t] - f32(1.0)) * w

    # ----- the AdamW update of one parameter, in one pass ---------------------------------------
    @exact_jit
    def adamw(param, grad, m, v, decay, maximize, weight, low, beta2, one_minus_beta2, scale, eps, neg_step_size):
        """optim.kernels' steps of Adam._update in one pass over flat float32 arrays, each rounded as
        numpy rounds it (no fastmath): θ *= decay; g = ±grad; m = lerp(m, g) (m + (g - m)·weight if `low`,
        else g - (g - m)·weight); v = v·β₂ + g·(1 - β₂)·g; θ += m·(-step_size) / (sqrt(v) / scale + eps)."""
        for i in range(param.size):
            g = -grad[i] if maximize else grad[i]
            mi = m[i] + (g - m[i]) * weight if low else g - (g - m[i]) * weight
            vi = v[i] * beta2 + g * one_minus_beta2 * g
            d = np.sqrt(vi)
            if scale != f32(1.0):
                d = d / scale
            param[i] = param[i] * decay + mi * neg_step_size / (d + eps)
            m[i] = mi
            v[i] = vi
