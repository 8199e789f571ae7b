"""`Optimizer`: the base class that owns parameter groups, per-parameter state,
`zero_grad`, `state_dict` and the optional per-step statistics.

A first-order optimizer is one small subclass: `__init__` builds its `defaults`,
`_validate(group)` checks one group's hyperparameters, and `_update(param, grad,
state, group)` changes one parameter's array in place, stating its rule step by
step with `self.kernels` (`optim.kernels`: in-place steps that reuse scratch
arrays). Everything else (the loop over groups and parameters, skipping
parameters without a gradient, state save/load, statistics) lives here, as in
PyTorch's `torch.optim.Optimizer`.

All arithmetic runs on the numpy arrays `p.data` and `p.grad.data`, in place and
in the parameter's dtype: hyperparameters are turned into Python floats, which
numpy treats as "weak" scalars, so a float32 model stays float32.
"""
import copy
import math
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np

from engine import Tensor, enable_grad
from optim.kernels import Kernels


class ParamState(MutableMapping):
    """Per-parameter optimizer state, keyed by the parameter tensor itself.

    Works like PyTorch's `defaultdict(dict)` keyed by tensors: `opt.state[p]`
    creates an empty dict on first access. Keys compare by identity, so it
    works whatever `Tensor.__eq__` does.
    """

    def __init__(self):
        self._params = {}  # id(p) -> p
        self._states = {}  # id(p) -> dict

    def __getitem__(self, p):
        key = id(p)
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = {}
            self._params[key] = p
        return st

    def __setitem__(self, p, value):
        self._params[id(p)] = p
        self._states[id(p)] = value

    def __delitem__(self, p):
        del self._params[id(p)]
        del self._states[id(p)]

    def __contains__(self, p):
        return id(p) in self._states

    def get(self, p, default=None):
        """The state of `p`, or `default` when it has none (never creates one)."""
        return self._states.get(id(p), default)

    def __iter__(self):
        return iter(list(self._params.values()))

    def __len__(self):
        return len(self._states)

    def __repr__(self):
        return f"ParamState({len(self)} parameters)"


def check_hparam(opt, name, value, ok, rule):
    """Raise `ValueError: <Opt>: invalid <name> <value> (must be <rule>)` unless `ok`."""
    if not ok:
        raise ValueError(f"{opt}: invalid {name} {value!r} (must be {rule})")


def check_nonneg(opt, name, value):
    """`value` must be a real number >= 0 (NaN and non-numbers are rejected)."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and value >= 0
    check_hparam(opt, name, value, ok, ">= 0")


def check_unit_interval(opt, name, value):
    """`value` must lie in [0, 1) (betas, decay rates)."""
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and 0 <= value < 1
    check_hparam(opt, name, value, ok, "in [0, 1)")


@dataclass
class UpdateExplanation:
    """What one step did to one parameter, for learners (see `Optimizer.explain_step`).

    `param` is the parameter, `rule` its update in symbols (None when the optimizer
    does not describe its rule) and `quantities` the rule's named values for this
    parameter, in the order the rule uses them: [(name, number or ndarray)]; the last
    one is the step the rule subtracted from θ.
    """
    param: object
    rule: object
    quantities: list


def _norm(a):
    return math.sqrt(float(np.vdot(a, a))) if a.size else 0.0


class Optimizer:
    """Base class of all optimizers (PyTorch's `torch.optim.Optimizer` contract).

    `Optimizer(params, defaults)`: `params` is an iterable of Tensors, of
    `(name, Tensor)` pairs (e.g. `model.named_parameters()`; the names label the
    statistics and are saved as `param_names`) or of group dicts
    `{'params': [...], 'lr': ..., ...}` whose missing keys come from `defaults`.

    Attributes:
        param_groups: list of dicts, each with 'params' and its hyperparameters.
        state: `ParamState`, per-parameter dicts (moments, step counts, ...).
        defaults: the constructor's hyperparameters.
        track_stats: False by default (the step records nothing). Set it to True
            and every `step()` records what it did; read it with
            `last_step_stats()`.
        kernels: the in-place update steps `_update` is written with (`optim.kernels`).
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = ParamState()
        self.track_stats = False
        self._stats = None
        self._step_count = 0
        self.kernels = Kernels()
        if isinstance(params, (Tensor, dict)):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of Tensors or of group dicts, "
                f"got a single {type(params).__name__} (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----- groups -----------------------------------------------------------
    def add_param_group(self, param_group):
        """Add a group dict (`{'params': [...], **hyperparameters}`) to `param_groups`.

        Missing hyperparameters are taken from `defaults`; the group's values are
        validated; a parameter may belong to one group only.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a param group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: a param group has an empty 'params' list")
        names = None
        if isinstance(params[0], tuple):
            if not all(isinstance(x, tuple) and len(x) == 2 for x in params):
                raise TypeError(f"{type(self).__name__}: mix of named and unnamed parameters in one group")
            names = [str(n) for n, _ in params]
            params = [p for _, p in params]
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__} can only optimize Tensors, but parameter {i} of the group is a "
                    f"{type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} of the group (shape {p.shape}) does not require grad; "
                    f"create it with requires_grad=True (or use engine.nn.Parameter)")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear more than once "
                             "(or in more than one group)")
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group):
        """Check one group's hyperparameters (raise ValueError naming the bad one)."""
        if "lr" in group:
            check_nonneg(type(self).__name__, "lr", group["lr"])

    # ----- gradients --------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset the gradients: `.grad = None` (default) or zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.requires_grad:
                        p.grad = p.grad.detach()
                    p.grad.data.fill(0)

    # ----- the step ---------------------------------------------------------
    def step(self, closure=None):
        """Update every parameter that has a gradient; return the closure's loss.

        `closure` (optional) re-evaluates the model: it zeroes the grads, computes
        the loss, calls backward and returns the loss. Parameters whose `.grad` is
        None are skipped (their state is left alone).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        before = self._snapshot() if self.track_stats else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p.data, p.grad.data, self.state[p], group)
                    p._changed_in_place()  # a graph that saved p now refuses to backprop
        self._finish_step(before)
        return loss

    def _update(self, param, grad, state, group):
        """Update one parameter array in place from its gradient (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not define _update")

    # ----- explaining a step ------------------------------------------------
    def explain_step(self):
        """Take one step, as `step()` does, and say what it did to each parameter.

        Returns one `UpdateExplanation` per parameter that had a gradient: the rule in
        symbols and its quantities in numbers, as `_explain` describes them. An
        optimizer that does not describe its rule still takes its step and explains it
        as rule None with no quantities (the value, gradient and new value tell the
        rest). The backprop explorer shows these on copies of the parameters.
        """
        taken = [(p, group, p.data.copy(), p.grad.data.copy())
                 for group in self.param_groups for p in group["params"] if p.grad is not None]
        self.step()
        explained = []
        for p, group, before, grad in taken:
            rule, quantities = self._explain(group, before.astype(np.float64), grad.astype(np.float64),
                                             self.state.get(p) or {})
            explained.append(UpdateExplanation(p, rule, quantities))
        return explained

    def _explain(self, group, before, grad, state):
        """(rule in symbols, [(name, value)]) of the step just taken on one parameter, from its value
        `before` the step, its gradient and its `state` after the step (float64 copies); subclasses
        describe their rule, the base class does not (None, [])."""
        return None, []

    @staticmethod
    def _explained_grad(before, grad, group, decay=True):
        """The gradient the rule uses (negated if maximize, plus weight_decay·θ when `decay`) and the
        rule's lines that made it."""
        g, lines = grad, []
        if group.get("maximize", False):
            g, lines = -g, lines + ["g ← −g (maximize)"]
        wd = float(group.get("weight_decay", 0))
        if decay and wd != 0:
            g, lines = g + wd * before, lines + ["g ← g + λ·θ (weight decay)"]
        return g, lines

    def _tmp(self, like, slot=0):
        """A reusable scratch array with `like`'s shape and dtype (no per-step allocation)."""
        key = (like.shape, like.dtype, slot)
        buf = self._scratch.get(key)
        if buf is None:
            buf = self._scratch[key] = np.empty_like(like)
        return buf

    @staticmethod
    def _descend(param, numer, step_size, denom, t):
        """param -= step_size * numer / denom, in place, using scratch `t` (the adaptive methods' last line)."""
        np.multiply(numer, -step_size, out=t)
        t /= denom
        param += t

    def _effective_grad(self, param, grad, group):
        """grad, negated if `maximize`, plus weight_decay * param (L2 penalty).

        Returns `grad` itself when there is nothing to do, else scratch slot 0.
        """
        wd = float(group.get("weight_decay", 0))
        maximize = group.get("maximize", False)
        if not maximize and wd == 0:
            return grad
        g = self._tmp(param, 0)
        if maximize:
            np.negative(grad, out=g)
        else:
            np.copyto(g, grad)
        if wd != 0:
            t = self._tmp(param, 1)
            np.multiply(param, wd, out=t)
            g += t
        return g

    # ----- state_dict -------------------------------------------------------
    def _indexed_params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self):
        """The optimizer's state as plain data (a snapshot: arrays are copies).

        `{'state': {index: {name: ndarray | number | list}}, 'param_groups':
        [{hyperparameters..., 'params': [indices]}]}`, indices counting the
        parameters across groups in order, as in PyTorch. No tensors, no
        functions: it can be stored as safetensors + JSON (see `flatten_state_dict`).
        """
        params = self._indexed_params()
        index = {id(p): i for i, p in enumerate(params)}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: copy.deepcopy(st) for p, st in self.state.items() if st}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a `state_dict()` (copied in): hyperparameters and per-parameter state.

        Checks that the group count, each group's parameter count and the shapes
        of per-parameter arrays agree, and raises ValueError naming the mismatch.
        State indices may be ints or digit strings (as after a JSON round trip);
        floating-point arrays are cast to their parameter's dtype.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the optimizer has {len(self.param_groups)} parameter group(s), "
                f"the state_dict has {len(saved_groups)}")
        for gi, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {gi} has {len(group['params'])} parameter(s), "
                    f"the state_dict's has {len(saved['params'])}")
        params = self._indexed_params()
        index_map = {}  # saved index -> parameter
        for group, saved in zip(self.param_groups, saved_groups):
            for p, i in zip(group["params"], saved["params"]):
                index_map[int(i)] = p
        new_state = ParamState()
        for key, st in state_dict["state"].items():
            i = int(key)
            if i not in index_map:
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but there are only {len(params)}")
            p = index_map[i]
            st = copy.deepcopy(st)
            self._check_state(p, i, st)
            for k, v in st.items():
                if isinstance(v, np.ndarray) and v.dtype.kind == "f":
                    st[k] = v.astype(p.dtype, copy=False)
            new_state[p] = st
        for group, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                if k != "params":
                    group[k] = copy.deepcopy(v)
            if isinstance(group.get("betas"), list):
                group["betas"] = tuple(group["betas"])
        self.state = new_state

    def _check_state(self, p, index, st):
        """Per-parameter arrays in the loaded state must have the parameter's shape."""
        for k, v in st.items():
            if isinstance(v, np.ndarray) and v.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: state '{k}' of parameter {index} has shape "
                    f"{v.shape}, the parameter has shape {p.shape}")

    # ----- statistics -------------------------------------------------------
    def _snapshot(self):
        return [[p.data.copy() for p in group["params"]] for group in self.param_groups]

    def _finish_step(self, before):
        self._step_count += 1
        if before is not None:
            self._stats = self._collect_stats(before)

    def _collect_stats(self, before):
        rows, index = [], 0
        for gi, (group, olds) in enumerate(zip(self.param_groups, before)):
            names = group.get("param_names")
            for j, (p, old) in enumerate(zip(group["params"], olds)):
                update = p.data - old
                update_norm, param_norm = _norm(update), _norm(old)
                row = {
                    "index": index,
                    "name": names[j] if names else f"param{index}",
                    "group": gi,
                    "shape": list(p.shape),
                    "grad_norm": None if p.grad is None else _norm(p.grad.data),
                    "update_norm": update_norm,
                    "param_norm": param_norm,
                    "ratio": update_norm / param_norm if param_norm > 0 else None,
                }
                row.update(self._param_stats(p, group))
                rows.append(row)
                index += 1
        return rows

    def _param_stats(self, p, group):
        """Optimizer-specific entries of one parameter's statistics row."""
        return {"lr": float(group["lr"])}

    def last_step_stats(self):
        """What the last `step()` did, per parameter (needs `track_stats = True`).

        A list of dicts, one per parameter in `state_dict` order, with:
        `index`, `name` (from named parameters, else 'param<index>'), `group`,
        `shape`, `grad_norm` (None without a gradient), `update_norm` (L2 norm of
        the change of the parameter), `param_norm` (L2 norm before the step),
        `ratio` (update_norm / param_norm; None when the parameter was zero) and
        the optimizer's own entries (e.g. Adam's `step`, `bias_correction1`,
        `m_hat_norm`, `v_hat_sqrt_mean`, `effective_lr_median`). Every value is a
        Python number, string, list or None, ready for `json.dumps`.
        """
        if self._stats is None:
            raise RuntimeError(
                f"{type(self).__name__}.last_step_stats(): no statistics recorded; set "
                f"`optimizer.track_stats = True` before calling step()")
        return self._stats

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)
