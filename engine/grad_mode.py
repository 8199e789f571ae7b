"""Global switches of the engine: gradient recording, anomaly detection, module scope.

Every op reads these flags once per call, so a switch that is off costs one attribute
lookup on the hot path and nothing more. `clock` orders events in the engine: each
recorded op and each in-place change takes the next tick, so backward can tell whether
anything changed since an op ran by comparing two numbers (`state.last_change`).
"""
import contextlib
import itertools

clock = itertools.count(1)  # one clock for the process: recorded ops and in-place changes


class _State:
    """The engine's mutable global flags (one instance, `state`)."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "last_change")

    def __init__(self):
        self.grad_enabled = True  # record ops into the graph
        self.anomaly = False      # check every forward and backward result for NaN/inf
        self.scope = ""           # dotted name of the nn.Module (or name_scope) currently running
        self.last_change = 0      # the clock's tick at the latest in-place change of any tensor


state = _State()


def is_grad_enabled():
    """True when new ops are recorded into the graph."""
    return state.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets gradient recording on or off."""

    def __init__(self, enabled):
        self.enabled = enabled
        self._saved = []

    def __enter__(self):
        self._saved.append(state.grad_enabled)
        state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        state.grad_enabled = self._saved.pop()
        return False


def no_grad():
    """Stop recording: results of ops inside have no graph and `requires_grad=False`."""
    return _GradMode(False)


def enable_grad():
    """Record ops again, even inside `no_grad()`."""
    return _GradMode(True)


def set_grad_enabled(enabled):
    """Record ops or not, as `enabled` says (context manager)."""
    return _GradMode(bool(enabled))


@contextlib.contextmanager
def detect_anomaly():
    """Check every op's forward output and backward gradient for NaN or inf.

    The first non-finite value raises `FloatingPointError` naming the op (for
    example `log`) and the line of user code that created it. Slow: for debugging.
    """
    saved = state.anomaly
    state.anomaly = True
    try:
        yield
    finally:
        state.anomaly = saved


@contextlib.contextmanager
def name_scope(name):
    """Tag the ops recorded inside with `name`, so that pictures frame them in a box titled `name`.

    `with name_scope("mse"): loss = F.mse_loss(pred, y)` draws the loss's ops inside
    a frame titled `mse`, as a module's ops are framed by its name. Inside a
    module's forward the scope nests under the module's dotted name (`attn.mse`).
    """
    name = str(name)
    if not name or "." in name:
        raise ValueError(f"name_scope: a name is one word without dots, not {name!r}")
    saved = state.scope
    state.scope = f"{saved}.{name}" if saved else name
    try:
        yield
    finally:
        state.scope = saved
