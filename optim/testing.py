"""A conformance kit: the generic checks stepgrad's own optimizers pass, for any optimizer class.

    from optim.testing import check_optimizer
    check_optimizer(Lion, lr=1e-3)     # {'state_dict': 'passed', ...} or ConformanceError

Each check builds its own small problem (a 3x2 matrix and a 4-vector on a
quadratic bowl, float64 unless the check is about float32), runs
`cls(params, **kwargs)` on it, and raises `ConformanceError` naming the check
and what went wrong. An optimizer whose `step(closure)` needs a closure (LBFGS,
Newton) gets closures that call `loss.backward(create_graph=True)`, so
second-order ones work too. stepgrad's own tests run these same checks on every
optimizer in `optim.OPTIMIZERS`, for every row of keyword arguments in their table.

The checks, in `CHECKS` order:

- `state_dict`: stopped after 3 steps, saved as arrays + JSON (`flatten_state_dict`,
  `json.dumps`) and loaded into a new optimizer over copies of the parameters, the
  run goes on exactly as one that never stopped; `state_dict()` holds every
  parameter's `optimizer.state`, and what it returned does not change when the
  optimizer steps on;
- `param_groups`: a second group with its own lr moves its parameter exactly as a
  separate optimizer with that lr would (not applicable if the constructor refuses
  groups with a ValueError, as LBFGS does);
- `zero_grad`: `set_to_none=True` (the default) drops every `.grad`;
  `set_to_none=False` keeps the `.grad` tensors and makes them zeros, NaN and inf
  included;
- `closure`: `step(closure)` returns the closure's loss; a first-order optimizer
  calls it once and then takes the same step as `closure(); step()`;
- `no_grad_params`: a parameter whose `.grad` is None is left as it was (and gets no
  state, for a first-order optimizer) while the others move;
- `float32`: float32 parameters and the floating-point arrays of their state stay float32;
- `descent`: 20 steps lower the quadratic loss (raise it with `maximize=True`).
"""
import copy
import inspect
import json

import numpy as np

from engine import Tensor
from optim.registry import needs_closure
from optim.serialization import flatten_state_dict, unflatten_state_dict

__all__ = ["check_optimizer", "CHECKS", "ConformanceError"]

_TARGETS = (np.linspace(-1, 1, 6).reshape(3, 2), np.array([0.5, -2.0, 1.0, 3.0]))
_SCALES = (np.array([[1.0, 2.0], [4.0, 8.0], [0.5, 1.0]]), np.array([1.0, 3.0, 9.0, 0.3]))


class ConformanceError(AssertionError):
    """An optimizer failed a conformance check; the message starts with the check's name."""


def _params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.normal(size=t.shape).astype(dtype), requires_grad=True) for t in _TARGETS]


def _loss(params, which=(0, 1)):
    """sum(scale * (p - target)^2) over the parameters numbered in `which`: minimum at the targets."""
    total = None
    for i in which:
        d = params[i] - Tensor(_TARGETS[i].astype(params[i].dtype))  # parameter's shape
        term = (d * d * Tensor(_SCALES[i].astype(params[i].dtype))).sum()  # ()
        total = term if total is None else total + term
    return total


def _step(opt, params, which=(0, 1)):
    """One optimizer step on the loss over `which`; returns what `step` returned."""
    second_order = needs_closure(type(opt))

    def closure():
        opt.zero_grad()
        loss = _loss(params, which)
        loss.backward(create_graph=second_order)
        return loss

    if second_order:
        return opt.step(closure)
    closure()
    return opt.step()


def _run(opt, params, steps, which=(0, 1)):
    for _ in range(steps):
        _step(opt, params, which)


def _fail(check, message):
    raise ConformanceError(f"{check}: {message}")


def _same(check, what, ours, expected):
    for i, (a, b) in enumerate(zip(ours, expected)):
        if a.data.shape != b.data.shape or not np.array_equal(a.data, b.data):
            diff = np.abs(a.data - b.data).max() if a.data.shape == b.data.shape else "a different shape"
            _fail(check, f"{what}: parameter {i} differs (largest difference {diff})")


def check_state_dict(cls, **kwargs):
    """Stop after 3 steps, save through arrays + JSON, load into a new optimizer: the run goes on unchanged.

    Also: `state_dict()` holds every parameter's state (`optimizer.state`), and it is a
    snapshot (later steps do not change what it returned).
    """
    straight = _params()
    _run(cls(straight, **kwargs), straight, 9)
    first = _params()
    opt = cls(first, **kwargs)
    _run(opt, first, 3)
    saved = opt.state_dict()
    _check_holds_the_state(opt, saved)
    try:
        arrays, meta = flatten_state_dict(saved)
        meta = json.loads(json.dumps(meta))
    except (TypeError, ValueError) as error:
        _fail("state_dict", f"state_dict() cannot be stored as arrays + JSON ({error})")
    arrays = {key: array.copy() for key, array in arrays.items()}
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    fresh = cls(resumed, **kwargs)
    fresh.load_state_dict(unflatten_state_dict(arrays, meta))
    _run(fresh, resumed, 6)
    _same("state_dict", "after save, load and 6 more steps, the run is not the one that never stopped",
          resumed, straight)
    _run(opt, first, 1)
    for key, array in flatten_state_dict(saved)[0].items():
        if not np.array_equal(array, arrays[key]):
            _fail("state_dict", f"state_dict() is not a snapshot: its {key!r} changed when the optimizer stepped on")


def _check_holds_the_state(opt, saved):
    """Every parameter with state in `opt.state` has it, equal, in `saved['state']` (PyTorch's layout)."""
    index = {id(p): i for i, p in enumerate(p for group in opt.param_groups for p in group["params"])}
    for p, state in opt.state.items():
        if not state:
            continue
        i = index[id(p)]
        kept = saved.get("state", {}).get(i)
        if kept is None:
            _fail("state_dict", f"state_dict() leaves out the state of parameter {i} ({', '.join(sorted(state))})")
        for key, value in state.items():
            if key not in kept:
                _fail("state_dict", f"state_dict() leaves out {key!r} of parameter {i}")
            if isinstance(value, np.ndarray) and not np.array_equal(value, kept[key]):
                _fail("state_dict", f"state_dict() holds another {key!r} for parameter {i} than the optimizer uses")


def check_param_groups(cls, **kwargs):
    """A second group with its own lr moves its parameter as a separate optimizer with that lr would."""
    lr = cls(_params(), **kwargs).defaults.get("lr")
    if lr is None:
        return "the optimizer has no lr"
    lr2 = float(lr) / 3
    params = _params()
    try:
        opt = cls([{"params": [params[0]]}, {"params": [params[1]], "lr": lr2}], **kwargs)
    except ValueError as error:
        return f"the constructor refuses parameter groups ({error})"
    if [g.get("lr") for g in opt.param_groups] != [lr, lr2]:
        _fail("param_groups", f"the groups' lr should be [{lr}, {lr2}], not {[g.get('lr') for g in opt.param_groups]}")
    alone = _params()
    separate = [cls([alone[0]], **kwargs), cls([alone[1]], **{**kwargs, "lr": lr2})]
    for _ in range(5):
        _step(opt, params)
        _step(separate[0], alone, which=(0,))
        _step(separate[1], alone, which=(1,))
    _same("param_groups", "a group with its own lr does not move as an optimizer with that lr", params, alone)


def check_zero_grad(cls, **kwargs):
    """set_to_none=True (the default) drops the grads; False zeroes them in place, NaN and inf too."""
    params = _params()
    opt = cls(params, **kwargs)
    _step(opt, params)
    for p in params:
        p.grad = Tensor(np.where(np.arange(p.data.size).reshape(p.shape) % 2, np.nan, np.inf))
    kept = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    for i, (p, grad) in enumerate(zip(params, kept)):
        if p.grad is not grad:
            _fail("zero_grad", f"zero_grad(set_to_none=False) replaced the .grad of parameter {i} instead of "
                               f"zeroing it")
        if np.any(grad.data != 0):
            _fail("zero_grad", f"zero_grad(set_to_none=False) left {grad.data.ravel()[:3]} in the .grad of "
                               f"parameter {i} (NaN and inf must become 0 too)")
    opt.zero_grad()
    if any(p.grad is not None for p in params):
        _fail("zero_grad", "zero_grad() (set_to_none=True, the default) left a .grad that is not None")


def check_closure(cls, **kwargs):
    """step(closure) returns the closure's loss; a first-order optimizer calls it once, then steps."""
    params = _params()
    opt = cls(params, **kwargs)
    calls = []

    def closure():
        opt.zero_grad()
        loss = _loss(params)
        loss.backward(create_graph=needs_closure(cls))
        calls.append(loss)
        return loss

    if "closure" not in inspect.signature(cls.step).parameters:
        return "its step() takes no closure"
    returned = opt.step(closure)
    if not calls:
        _fail("closure", "step(closure) never called the closure")
    if returned is not calls[0]:
        _fail("closure", f"step(closure) returned {returned!r}, not the loss the closure returned first")
    if needs_closure(cls):
        return None
    if len(calls) != 1:
        _fail("closure", f"step(closure) called the closure {len(calls)} times; a first-order step calls it once")
    plain = _params()
    _step(cls(plain, **kwargs), plain)
    _same("closure", "step(closure) took another step than closure(); step()", params, plain)
    return None


def check_no_grad_params(cls, **kwargs):
    """A parameter whose .grad is None is left as it was (and, first-order, has no state); the others move."""
    params = _params()
    start = [p.data.copy() for p in params]
    opt = cls(params, **kwargs)
    _run(opt, params, 3, which=(0,))
    if params[1].grad is not None or not np.array_equal(params[1].data, start[1]):
        _fail("no_grad_params", "a parameter without a gradient was changed")
    if np.array_equal(params[0].data, start[0]):
        _fail("no_grad_params", "the parameter with a gradient did not move in 3 steps")
    if not needs_closure(cls) and opt.state.get(params[1]):
        _fail("no_grad_params", f"a parameter without a gradient got state {sorted(opt.state.get(params[1]))}")


def check_float32(cls, **kwargs):
    """float32 parameters and the floating-point arrays of their state stay float32."""
    params = _params(np.float32)
    opt = cls(params, **kwargs)
    _run(opt, params, 3)
    for i, p in enumerate(params):
        if p.data.dtype != np.float32:
            _fail("float32", f"parameter {i} became {p.data.dtype}")
    for i, p in enumerate(params):
        for key, value in (opt.state.get(p) or {}).items():
            for array in value if isinstance(value, list) else [value]:
                if isinstance(array, np.ndarray) and array.dtype.kind == "f" and array.dtype != np.float32:
                    _fail("float32", f"state {key!r} of parameter {i} is {array.dtype}")


def check_descent(cls, **kwargs):
    """20 steps lower the quadratic loss (raise it, for an optimizer built with maximize=True)."""
    params = _params()
    opt = cls(params, **kwargs)
    before = _loss(params).item()
    _run(opt, params, 20)
    after = _loss(params).item()
    if opt.defaults.get("maximize"):
        if not after > before:
            _fail("descent", f"with maximize=True, 20 steps took the loss from {before:.6g} to {after:.6g}, not up")
    elif not after < before:
        _fail("descent", f"20 steps took the quadratic loss from {before:.6g} to {after:.6g}, not down")


#: name -> check(cls, **kwargs): None when it passed, a reason when it does not apply; ConformanceError when it fails
CHECKS = {
    "state_dict": check_state_dict,
    "param_groups": check_param_groups,
    "zero_grad": check_zero_grad,
    "closure": check_closure,
    "no_grad_params": check_no_grad_params,
    "float32": check_float32,
    "descent": check_descent,
}


def check_optimizer(cls, **kwargs):
    """Run every check in `CHECKS` on `cls(params, **kwargs)`; see the module docstring.

    Returns `{check: 'passed' or 'not applicable: <reason>'}`. Raises
    `ConformanceError` listing every check that failed, one per line, each
    starting with the check's name.
    """
    results, failures = {}, []
    for name, check in CHECKS.items():
        try:
            reason = check(cls, **copy.deepcopy(kwargs))
        except ConformanceError as error:
            failures.append(str(error))
            continue
        except Exception as error:  # noqa: BLE001 - the optimizer itself crashed: that check failed
            failures.append(f"{name}: raised {type(error).__name__}: {' '.join(str(error).split())}")
            continue
        results[name] = "passed" if reason is None else f"not applicable: {reason}"
    if failures:
        raise ConformanceError(f"{cls.__name__} failed {len(failures)} of {len(CHECKS)} checks:\n"
                               + "\n".join(failures))
    return results
