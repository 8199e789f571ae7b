"""The checks of `detect_anomaly()`: a NaN or inf in an op's forward output or in a gradient its
backward rule returns raises `FloatingPointError`, naming the op and the line of user code
that created it. Recording and the walker call these only while the switch is on
(`grad_mode.state.anomaly`), so they cost nothing otherwise.
"""
import functools
import os
import sys

import numpy as np

from engine.grad_mode import state

_ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def numpy_warnings_off():
    """An `np.errstate` under which inf and nan come out silently, as in PyTorch: numpy's floating-point
    warnings are off, while stricter handling the caller chose (`np.errstate(all="raise")`) is kept.
    `detect_anomaly()` is how to find where an inf or nan came from."""
    return np.errstate(**{kind: "ignore" for kind, how in np.geterr().items() if how == "warn"})


def without_numpy_warnings(func):
    """`func` run under `numpy_warnings_off()` (a decorator)."""
    @functools.wraps(func)
    def quiet(*args, **kwargs):
        with numpy_warnings_off():
            return func(*args, **kwargs)
    return quiet


def user_frame():
    """The first stack frame outside the engine package, as 'file:line'."""
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)).startswith(_ENGINE_DIR):
        frame = frame.f_back
    if frame is None:
        return "unknown place"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _bad(a):
    """'nan' or 'inf' if float array `a` holds one, else None."""
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return None
    return "nan" if np.isnan(a).any() else "inf"


def check_forward(op, out):
    """Raise if the forward output `out` of `op` holds a NaN or inf."""
    bad = _bad(out)
    if bad:
        raise FloatingPointError(f"detect_anomaly: '{op.name}' produced {bad} in its forward output "
                                 f"(shape {out.shape}) at {user_frame()}")


def checked_backward(node, g, out):
    """The node's backward rule, its gradients checked for NaN and inf.

    The per-op forward checks are off inside, so that a NaN the rule makes is reported
    against this node, not against an op its rule happens to use.
    """
    state.anomaly = False
    try:
        pgs = node.op.backward(node, g, out)
    finally:
        state.anomaly = True
    for i, (p, pg) in enumerate(zip(node.parents, pgs if type(pgs) is tuple else (pgs,))):
        bad = None if pg is None or not p.requires_grad else _bad(pg.data)
        if bad:
            raise FloatingPointError(
                f"detect_anomaly: '{node.op.name}' backward produced {bad} in the gradient of its input {i} "
                f"(shape {pg.shape}); the op was created at {node.where()}")
    return pgs
