"""Gradient clipping by the global norm."""
import math

import numpy as np

from engine import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients in place so that their joint norm is at most `max_norm`.

    As `torch.nn.utils.clip_grad_norm_`: the total norm is the `norm_type`-norm
    of the per-parameter gradient norms (inf: the largest absolute entry); every
    gradient is multiplied by min(max_norm / (total + 1e-6), 1). Parameters
    without a gradient are ignored. Returns the total norm before clipping as a
    Python float (0.0 when no parameter has a gradient). With
    `error_if_nonfinite=True` a NaN or infinite total raises RuntimeError.

    The norm never overflows: where the plain sum of powers would exceed the
    float range (float32 gradients of 1e20, whose squares are 1e40), it is
    computed on the gradient divided by its largest entry, so finite gradients
    always have a finite norm and are scaled, not zeroed. A negative or NaN
    `max_norm`, which would flip or destroy the gradients, is a ValueError.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be a number >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be a positive number or inf, got {norm_type}")
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total = vector_norm(np.array([vector_norm(g, norm_type) for g in grads], dtype=np.float64), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so they "
            f"cannot be clipped; set error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    if coef < 1.0 or not math.isfinite(total):
        with np.errstate(invalid="ignore"):  # inf * 0 -> nan, as in torch
            for g in grads:
                g *= coef
    return total


def vector_norm(x, ord):
    """The `ord`-norm of all of `x`'s entries as a Python float, finite whenever every entry is finite.

    numpy's norm first (the same numbers as before for ordinary gradients); only
    if it overflowed while every entry is finite is it recomputed on `x` divided
    by its largest absolute entry.
    """
    x = x.reshape(-1)
    if x.size == 0:
        return 0.0
    with np.errstate(over="ignore"):
        norm = float(np.linalg.norm(x, ord=ord))
    if math.isfinite(norm):
        return norm
    largest = float(np.max(np.abs(x)))
    if not math.isfinite(largest) or largest == 0.0:
        return norm  # an inf or NaN entry: the norm is inf or NaN, as it should be
    scaled = np.abs(x).astype(np.float64) / largest  # entries in [0, 1]: no power can overflow
    return largest * float(np.linalg.norm(scaled, ord=ord))
