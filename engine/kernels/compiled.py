"""The compiled backend: the kernels that have a numba loop, with numpy's signatures.

Each function here takes and returns what the numpy kernel of the same name does. It
runs its loop from engine/kernels/numba_loops.py on float32 arrays (copying a
non-contiguous input first), split into row blocks over the engine's threads
(`threads.for_blocks`, as the numpy kernels are), and hands every other dtype to the
numpy kernel, so float64 checks keep numpy's exact math. numba is imported, and a
loop compiled or loaded from the on-disk cache, on the first call, never when this
module is imported.
"""
import numpy as np

from engine.kernels import elementwise, rows
from engine.kernels.threads import for_blocks
from engine.kernels.attention import attention as numpy_attention, attention_backward as numpy_attention_backward

_F32 = np.dtype(np.float32)
_loops = None


def loops():
    """The compiled loops' module (numba loads on the first call)."""
    global _loops
    if _loops is None:
        from engine.kernels import numba_loops
        _loops = numba_loops
    return _loops


def warm_up():
    """Compile every loop now, or load it from the on-disk cache: what the first calls would do (seconds
    on a machine's first run, well under one after). Runs each kernel once on a small float32 input."""
    x = np.linspace(-3, 3, 64, dtype=_F32).reshape(8, 8)             # (8, 8)
    gelu_backward(x, x, gelu(x, True)[1])
    gelu_backward(x, x, gelu(x, False)[1])
    _, xhat, rstd = layer_norm(x, None, None, 1e-5)
    layer_norm_backward(x, xhat, rstd, None, True)
    qkv = np.stack([x] * 3).reshape(1, 4, 3, 2, 8).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, D), laid out as in a GPT
    _, att = attention(qkv[0], qkv[1], qkv[2], True, 0.5, None)
    attention_backward(qkv[0], att, qkv[0], qkv[1], qkv[2], 0.5, None, qkv)
    targets = np.zeros(8, dtype=np.int64)
    _, probs = cross_entropy(x, targets)
    cross_entropy_backward(probs, targets, np.ones((8, 1), _F32))
    adamw_(x.copy(), x, x.copy(), x * x, 0.99, False, 0.1, 0.999, 0.5, 1e-8, 1e-3)


def _f32(*arrays):
    """True if every array given (None is skipped) is float32."""
    return all(a is None or a.dtype == _F32 for a in arrays)


def gelu(x, with_slope):
    """(x * Phi(x), its slope Phi(x) + x * phi(x) if `with_slope` else None), both from one pass over x."""
    if not _f32(x):
        return elementwise.gelu(x, with_slope)
    flat = np.ascontiguousarray(x).reshape(-1)
    y = np.empty_like(flat)
    if with_slope:
        slope = np.empty_like(flat)
        loop = loops().gelu_with_slope
        for_blocks(lambda s, e: loop(flat[s:e], y[s:e], slope[s:e]), flat.size, flat.size)
        return y.reshape(x.shape), slope.reshape(x.shape)
    loop = loops().gelu
    for_blocks(lambda s, e: loop(flat[s:e], y[s:e]), flat.size, flat.size)
    return y.reshape(x.shape), None


def gelu_backward(g, x, slope):
    """g * slope, the slope `gelu` kept (numpy's multiply: one pass either way), or else from x in one pass."""
    if slope is not None or not _f32(g, x):
        return elementwise.gelu_backward(g, x, slope)
    gf, xf = np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(x).reshape(-1)
    dx = np.empty_like(gf)
    loop = loops().gelu_backward
    for_blocks(lambda s, e: loop(gf[s:e], xf[s:e], dx[s:e]), gf.size, gf.size)
    return dx.reshape(g.shape)


def layer_norm(x, weight, bias, eps):
    """numpy's `rows.layer_norm`, one pass per row."""
    if not _f32(x, weight, bias):
        return rows.layer_norm(x, weight, bias, eps)
    n, d = x.shape
    x = np.ascontiguousarray(x)
    y, xhat = np.empty((n, d), _F32), np.empty((n, d), _F32)         # (N, D)
    rstd = np.empty((n, 1), _F32)                                     # (N, 1)
    weight = np.ones(d, _F32) if weight is None else np.ascontiguousarray(weight)
    bias = np.zeros(d, _F32) if bias is None else np.ascontiguousarray(bias)
    loop, eps = loops().layer_norm, np.float32(eps)
    for_blocks(lambda s, e: loop(x[s:e], weight, bias, eps, y[s:e], xhat[s:e], rstd[s:e]), n, x.size)
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, weight, with_bias):
    """numpy's `rows.layer_norm_backward`, one pass per row; each block of rows sums its part of dweight, dbias."""
    if not _f32(g, xhat, rstd, weight):
        return rows.layer_norm_backward(g, xhat, rstd, weight, with_bias)
    n, d = xhat.shape
    g, xhat, rstd = np.ascontiguousarray(g), np.ascontiguousarray(xhat), np.ascontiguousarray(rstd)
    dx = np.empty((n, d), _F32)                                       # (N, D)
    w = np.ones(d, _F32) if weight is None else np.ascontiguousarray(weight)
    loop = loops().layer_norm_backward

    def block(s, e):
        dweight, dbias = np.zeros(d, _F32), np.zeros(d, _F32)        # (D,), (D,)
        loop(g[s:e], xhat[s:e], rstd[s:e], w, dx[s:e], dweight, dbias)
        return dweight, dbias

    parts = for_blocks(block, n, xhat.size)
    return (dx, sum(p[0] for p in parts) if weight is not None else None,
            sum(p[1] for p in parts) if with_bias else None)


def _softmax(a, scale, is_causal):
    """The attention's softmax step on a block a (b, H, T, S), in place, in one loop per row."""
    loops().scaled_softmax(a.reshape(-1, a.shape[-1]), np.float32(scale), is_causal, a.shape[-2])


def _softmax_backward(d, a, scale):
    """The softmax's backward step on a block, in place, in one loop per row."""
    loops().scaled_softmax_backward(d.reshape(-1, d.shape[-1]), a.reshape(-1, a.shape[-1]), np.float32(scale))


def attention(q, k, v, is_causal, scale, dropout_mask):
    """numpy's `attention.attention` with the softmax step compiled."""
    if not _f32(q, k, v):
        return numpy_attention(q, k, v, is_causal, scale, dropout_mask)
    return numpy_attention(q, k, v, is_causal, scale, dropout_mask, softmax=_softmax)


def attention_backward(g, att, q, k, v, scale, dropout_mask, packed=None):
    """numpy's `attention.attention_backward` with the softmax step compiled."""
    if not _f32(g, att, q, k, v):
        return numpy_attention_backward(g, att, q, k, v, scale, dropout_mask, packed)
    return numpy_attention_backward(g, att, q, k, v, scale, dropout_mask, packed,
                                    softmax_backward=_softmax_backward)


def cross_entropy(x, targets):
    """numpy's `rows.cross_entropy`, one pass per row."""
    if not _f32(x):
        return rows.cross_entropy(x, targets)
    n, c = x.shape
    x, targets = np.ascontiguousarray(x), np.ascontiguousarray(targets, dtype=np.int64)
    losses, probs = np.empty(n, _F32), np.empty((n, c), _F32)         # (N,), (N, C)
    loop = loops().cross_entropy
    for_blocks(lambda s, e: loop(x[s:e], targets[s:e], losses[s:e], probs[s:e]), n, x.size)
    return losses, probs


def cross_entropy_backward(probs, targets, weight):
    """numpy's `rows.cross_entropy_backward`, one pass per row."""
    if not _f32(probs, weight):
        return rows.cross_entropy_backward(probs, targets, weight)
    probs, targets = np.ascontiguousarray(probs), np.ascontiguousarray(targets, dtype=np.int64)
    weight = np.ascontiguousarray(weight.reshape(-1))                 # (N,)
    dx = np.empty(probs.shape, _F32)                                  # (N, C)
    loop = loops().cross_entropy_backward
    for_blocks(lambda s, e: loop(probs[s:e], targets[s:e], weight[s:e], dx[s:e]), len(probs), probs.size)
    return dx


def adamw_(param, grad, m, v, decay, maximize, weight, beta2, scale, eps, step_size):
    """Adam's update of one parameter in one pass, bit for bit as optim.kernels computes it step by step
    (optim/adam.py states the rule); returns False, having done nothing, unless all four arrays are float32
    and C-contiguous (they are updated in place)."""
    if not all(a.dtype == _F32 and a.flags.c_contiguous for a in (param, grad, m, v)):
        return False
    low = abs(weight) < 0.5                                           # torch.lerp_'s two roundings
    f = np.float32
    loops().adamw(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1), f(decay), maximize,
                  f(weight if low else 1.0 - weight), low, f(beta2), f(1.0 - beta2), f(scale), f(eps), f(-step_size))
    return True


KERNELS = {
    "gelu": gelu,
    "gelu_backward": gelu_backward,
    "layer_norm": layer_norm,
    "layer_norm_backward": layer_norm_backward,
    "attention": attention,
    "attention_backward": attention_backward,
    "cross_entropy": cross_entropy,
    "cross_entropy_backward": cross_entropy_backward,
}
