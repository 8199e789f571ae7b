"""Gradient clipping by the global norm."""
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
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return 0.0
    norms = np.array([np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads], dtype=np.float64)
    total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so they "
            f"cannot be clipped; set error_if_nonfinite=False to clip anyway")
    coef = min(max_norm / (total + 1e-6), 1.0)
    if coef < 1.0 or not np.isfinite(total):
        with np.errstate(invalid="ignore"):  # inf * 0 -> nan, as in torch
            for g in grads:
                g *= coef
    return total
