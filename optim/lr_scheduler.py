"""Learning-rate schedules with PyTorch's semantics (`torch.optim.lr_scheduler`).

A scheduler owns an optimizer and rewrites each group's 'lr'. Constructing it
stores `initial_lr` in every group and sets the lr for step 0; call
`scheduler.step()` once after each `optimizer.step()`. `last_epoch` counts the
scheduler steps, `get_last_lr()` returns the lrs it set last, and
`state_dict()`/`load_state_dict()` save and restore it (plain data).

The formulas are PyTorch's, including its recursive ("chainable") forms, so the lr
sequences agree with torch's to rounding.
"""
import math
import types
import warnings
from bisect import bisect_right

from optim.optimizer import Optimizer


class LRScheduler:
    """Base class: subclasses define `get_lr()` (the lrs for `last_epoch`).

    `LRScheduler(optimizer, last_epoch=-1)`; `last_epoch=-1` starts afresh
    (stores each group's lr as 'initial_lr'); a value >= 0 resumes and needs
    'initial_lr' in every group.
    """

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming a scheduler "
                        f"with last_epoch={last_epoch}: load the optimizer's state first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._is_initial = False
        self._initial_step()

    def _initial_step(self):
        """Reset the step count and take the constructor's step (to `last_epoch + 1`)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def state_dict(self):
        """Every attribute except the optimizer (plain data)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the attributes saved by `state_dict()`."""
        self.__dict__.update(state_dict)

    def get_last_lr(self):
        """The learning rates set by the last `step()`, one per group."""
        return self._last_lr

    def get_lr(self):
        """The learning rates for `last_epoch` (called by `step()`)."""
        raise NotImplementedError

    def step(self):
        """Advance one step and set the groups' lrs. Call it after `optimizer.step()`."""
        if self._step_count == 1 and getattr(self.optimizer, "_step_count", 1) == 0:
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: call them in the "
                "opposite order, or the first value of the schedule is skipped.", UserWarning, stacklevel=2)
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch=None):
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def _group_lrs(optimizer):
    return [group["lr"] for group in optimizer.param_groups]


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(last_epoch); one function or one per group.

    `LambdaLR(optimizer, lr_lambda, last_epoch=-1)`. `state_dict` saves the
    `__dict__` of callable objects, not plain functions (as PyTorch).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        if not isinstance(lr_lambda, (list, tuple)):
            self.lr_lambdas = [lr_lambda] * len(optimizer.param_groups)
        else:
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"Expected {len(optimizer.param_groups)} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        for fn in self.lr_lambdas:
            _require("LambdaLR", "lr_lambda", fn, callable(fn), "a function of the step")
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        """Attributes, with the lambdas replaced by their `__dict__` (None for functions)."""
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        sd["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__) for fn in self.lr_lambdas]
        return sd

    def load_state_dict(self, state_dict):
        """Restore the attributes and the callable objects' `__dict__`."""
        state_dict = dict(state_dict)
        lambdas = state_dict.pop("lr_lambdas")
        self.__dict__.update(state_dict)
        for fn, saved in zip(self.lr_lambdas, lambdas):
            if saved is not None:
                fn.__dict__.update(saved)

    def get_lr(self):
        return [base_lr * lmbda(self.last_epoch) for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class StepLR(LRScheduler):
    """Multiply the lr by `gamma` every `step_size` steps.

    `StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)`.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        _require("StepLR", "step_size", step_size, _is_count(step_size, 1), "a positive integer")
        _require("StepLR", "gamma", gamma, _is_real(gamma), "a finite number")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _group_lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by `gamma` at each milestone (a step count; repeats multiply again).

    `MultiStepLR(optimizer, milestones, gamma=0.1, last_epoch=-1)`.
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        milestones = list(milestones)
        _require("MultiStepLR", "milestones", milestones, all(_is_count(m, 0) for m in milestones),
                 "integers >= 0")
        _require("MultiStepLR", "gamma", gamma, _is_real(gamma), "a finite number")
        self.milestones = sorted(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        hits = self.milestones.count(self.last_epoch)
        if hits == 0:
            return _group_lrs(self.optimizer)
        return [group["lr"] * self.gamma ** hits for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** bisect_right(self.milestones, self.last_epoch) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by `gamma` every step.

    `ExponentialLR(optimizer, gamma, last_epoch=-1)`.
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        _require("ExponentialLR", "gamma", gamma, _is_real(gamma), "a finite number")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return _group_lrs(self.optimizer)
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from initial_lr down to `eta_min` over `T_max` steps (then back up).

    `CosineAnnealingLR(optimizer, T_max, eta_min=0.0, last_epoch=-1)`:
    lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2.
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        _require("CosineAnnealingLR", "T_max", T_max, _is_count(T_max, 1), "a positive integer")
        _require("CosineAnnealingLR", "eta_min", eta_min, _is_real(eta_min), "a finite number")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return _group_lrs(self.optimizer)
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min
                for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from `start_factor` to `end_factor` over `total_iters` steps.

    `LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5,
    last_epoch=-1)`; the usual linear warm-up.
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(f"LinearLR: invalid start_factor {start_factor!r} (must be in (0, 1])")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: invalid end_factor {end_factor!r} (must be in [0, 1])")
        _require("LinearLR", "total_iters", total_iters, _is_count(total_iters, 1), "a positive integer")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _group_lrs(self.optimizer)
        factor = 1.0 + (self.end_factor - self.start_factor) / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * (self.end_factor - self.start_factor))
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class WarmupCosineLR(LRScheduler):
    """nanoGPT's schedule: a linear warm-up, then a cosine from the initial lr down to `min_lr`.

    `WarmupCosineLR(optimizer, warmup_steps, decay_steps, min_lr=0.0, last_epoch=-1)`.
    At step t (`last_epoch`), for each group's initial lr (nanoGPT's `get_lr`)::

        t < warmup_steps:                  lr = initial_lr * (t + 1) / (warmup_steps + 1)
        warmup_steps <= t <= decay_steps:  lr = min_lr + (initial_lr - min_lr) * (1 + cos(pi * r)) / 2
                                               with r = (t - warmup_steps) / (decay_steps - warmup_steps)
        t > decay_steps:                   lr = min_lr

    (min_lr right after the warm-up if `decay_steps <= warmup_steps`). `stepgrad
    train` uses it with `decay_steps` = the run's step count, so the last step runs at
    `min_lr`; it resumes a run by building it with `last_epoch` = the steps done - 1.
    """

    def __init__(self, optimizer, warmup_steps, decay_steps, min_lr=0.0, last_epoch=-1):
        for name, value in (("warmup_steps", warmup_steps), ("decay_steps", decay_steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"WarmupCosineLR: invalid {name} {value!r} (must be an integer >= 0)")
        if not (isinstance(min_lr, (int, float)) and min_lr >= 0):
            raise ValueError(f"WarmupCosineLR: invalid min_lr {min_lr!r} (must be >= 0)")
        self.warmup_steps = warmup_steps
        self.decay_steps = decay_steps
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, warmup, decay = self.last_epoch, self.warmup_steps, self.decay_steps
        if t < warmup:
            return [base_lr * (t + 1) / (warmup + 1) for base_lr in self.base_lrs]
        if t > decay or decay <= warmup:
            return [self.min_lr for _ in self.base_lrs]
        decay_ratio = (t - warmup) / (decay - warmup)  # 0 -> 1
        coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # 1 -> 0
        return [self.min_lr + coeff * (base_lr - self.min_lr) for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run `schedulers` one after another, switching at the `milestones` steps.

    `SequentialLR(optimizer, schedulers, milestones, last_epoch=-1)`, e.g. linear
    warm-up for 100 steps then cosine: `SequentialLR(opt, [LinearLR(opt, 0.01,
    total_iters=100), CosineAnnealingLR(opt, T_max=1900)], milestones=[100])`.
    At a milestone the next scheduler starts from its step 0.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler")
        for i, s in enumerate(schedulers):
            if getattr(s, "optimizer", None) is not optimizer:
                raise ValueError(f"SequentialLR: scheduler {i} ({type(s).__name__}) belongs to a different optimizer")
        _require("SequentialLR", "milestones", milestones, all(_is_count(m, 0) for m in milestones),
                 "integers >= 0")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR expects one milestone fewer than schedulers, got {len(schedulers)} schedulers "
                f"and {len(milestones)} milestones")
        self._schedulers = schedulers
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        _undo_initial_steps(self)
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = schedulers[idx].get_last_lr()

    def step(self):
        """Advance the scheduler in charge of this step (restarting it at a milestone)."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        """Attributes plus each inner scheduler's state_dict."""
        sd = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")}
        sd["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return sd

    def load_state_dict(self, state_dict):
        """Restore the attributes and the inner schedulers."""
        state_dict = dict(state_dict)
        inner = state_dict.pop("_schedulers")
        self.__dict__.update(state_dict)
        for s, sd in zip(self._schedulers, inner):
            s.load_state_dict(sd)


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm up to `max_lr`, then anneal far below the start.

    `OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None,
    steps_per_epoch=None, pct_start=0.3, anneal_strategy='cos',
    cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
    final_div_factor=1e4, three_phase=False, last_epoch=-1)`. Starts at
    max_lr/div_factor, ends at that / final_div_factor; with `cycle_momentum` the
    momentum (SGD, RMSprop) or beta1 (Adam) moves the opposite way.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"OneCycleLR: invalid total_steps {total_steps!r} (must be a positive integer)")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            if not isinstance(epochs, int) or epochs <= 0:
                raise ValueError(f"OneCycleLR: invalid epochs {epochs!r} (must be a positive integer)")
            if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
                raise ValueError(f"OneCycleLR: invalid steps_per_epoch {steps_per_epoch!r} "
                                 "(must be a positive integer)")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
        if three_phase:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2, "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr", "end_lr": "min_lr",
                 "start_momentum": "max_momentum", "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": float(pct_start * self.total_steps) - 1, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:
            raise ValueError(f"OneCycleLR: invalid pct_start {pct_start!r} (must be a float in [0, 1])")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: invalid anneal_strategy {anneal_strategy!r} (must be 'cos' or 'linear')")
        self._anneal_func_type = anneal_strategy
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            _require("OneCycleLR", name, value, _is_real(value) and value > 0, "a positive number")

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        for m in max_lrs:
            _require("OneCycleLR", "max_lr", m, _is_real(m) and m > 0, "a positive number")
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / div_factor
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError("OneCycleLR: cycle_momentum needs an optimizer with momentum or betas")
            self.use_beta1 = "betas" in optimizer.defaults
            max_ms = _per_group("max_momentum", optimizer, max_momentum)
            base_ms = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_mom, b_mom, group in zip(max_ms, base_ms, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_mom, *group["betas"][1:])
                    else:
                        group["momentum"] = m_mom
                    group["max_momentum"] = m_mom
                    group["base_momentum"] = b_mom
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {step_num} times; total_steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == len(self._schedule_phases) - 1:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                    break
                start_step = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs


def _undo_initial_steps(sched):
    """Step back every (nested) scheduler by the step it took when it was built."""
    if hasattr(sched, "_schedulers"):
        for s in sched._schedulers:
            _undo_initial_steps(s)
    else:
        sched.last_epoch -= 1


def _per_group(name, optimizer, value):
    """One value per param group (a scalar is repeated)."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} has {len(value)} values, "
                             f"but there are {len(optimizer.param_groups)} param groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _require(owner, name, value, ok, rule):
    """ValueError `<owner>: invalid <name> <value> (must be <rule>)` unless `ok` (checked in the constructor,
    so a bad setting fails where it is given, not as a ZeroDivisionError steps later)."""
    if not ok:
        raise ValueError(f"{owner}: invalid {name} {value!r} (must be {rule})")


def _is_count(value, least):
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
