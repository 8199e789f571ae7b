"""Learning-rate schedulers: PyTorch's semantics, closed forms, state_dict, and torch itself."""
import json
import math
import re
import warnings

import numpy as np
import pytest

import optim
from engine import Tensor
from optim import lr_scheduler as sched


def make_opt(kind="sgd", lrs=(0.1,)):
    params = [Tensor(np.zeros(2), requires_grad=True) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    if kind == "sgd":
        return optim.SGD(groups, lr=lrs[0], momentum=0.9)
    return optim.Adam(groups, lr=lrs[0])


def lr_sequence(opt, scheduler, steps):
    """The lr of every group used at steps 0..steps-1 (read before each optimizer step)."""
    seq = []
    for _ in range(steps):
        seq.append([g["lr"] for g in opt.param_groups])
        assert scheduler.get_last_lr() == seq[-1]
        opt.step()
        scheduler.step()
    return seq


# Each entry builds the same scheduler from either `optim.lr_scheduler` or `torch.optim.lr_scheduler`.
SCHEDULES = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1.0 + e]),
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=4), m.CosineAnnealingLR(o, T_max=8, eta_min=1e-3)],
        milestones=[4]),
    "SequentialLR-3": lambda m, o: m.SequentialLR(
        o, [m.ExponentialLR(o, gamma=0.8), m.StepLR(o, step_size=2), m.LambdaLR(o, lambda e: 0.5 + e)],
        milestones=[3, 7]),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=20),
    "OneCycleLR-linear-3phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.8, epochs=3, steps_per_epoch=5, pct_start=0.4, anneal_strategy="linear", three_phase=True,
        div_factor=10.0, final_div_factor=100.0),
}
STEPS = {"OneCycleLR": 20, "OneCycleLR-linear-3phase": 15}
# Schedulers torch.optim does not have: the same table, without the comparison with torch.
OWN_SCHEDULES = {
    "WarmupCosineLR": lambda m, o: m.WarmupCosineLR(o, warmup_steps=3, decay_steps=10, min_lr=0.01),
}


def test_every_scheduler_class_has_a_case():
    named = {k.split("-")[0] for k in [*SCHEDULES, *OWN_SCHEDULES]}
    classes = {name for name, obj in vars(sched).items()
               if isinstance(obj, type) and issubclass(obj, sched.LRScheduler) and obj is not sched.LRScheduler}
    assert named == classes


def nanogpt_get_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    """nanoGPT's train.py `get_lr`, as it is written there."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


@pytest.mark.parametrize("lr, min_lr, warmup, decay", [(1e-3, 1e-4, 100, 2000), (0.1, 0.01, 5, 30),
                                                       (2e-3, 2e-4, 0, 12), (1.0, 0.0, 1, 2)])
def test_warmup_cosine_is_nanogpts_get_lr_bit_for_bit(lr, min_lr, warmup, decay):
    opt = make_opt(lrs=(lr,))
    seq = lr_sequence(opt, sched.WarmupCosineLR(opt, warmup, decay, min_lr), decay + 5)
    assert [s[0] for s in seq] == [nanogpt_get_lr(t, lr, min_lr, warmup, decay) for t in range(decay + 5)]


def test_warmup_cosine_shape():
    opt = make_opt(lrs=(1.0, 0.5))
    seq = lr_sequence(opt, sched.WarmupCosineLR(opt, warmup_steps=2, decay_steps=6, min_lr=0.1), 8)
    assert [round(s[0], 3) for s in seq] == [0.333, 0.667, 1.0, 0.868, 0.55, 0.232, 0.1, 0.1]
    assert [round(s[1], 3) for s in seq][:3] == [0.167, 0.333, 0.5]  # each group from its own initial lr
    opt = make_opt(lrs=(1.0,))
    seq = lr_sequence(opt, sched.WarmupCosineLR(opt, warmup_steps=5, decay_steps=5, min_lr=0.1), 7)
    assert [s[0] for s in seq][4:] == [5 / 6, 0.1, 0.1]  # no room to decay: min_lr after the warm-up


def test_warmup_cosine_resumes_from_last_epoch():
    """Rebuilt with last_epoch = steps done - 1 over a restored optimizer, it goes on where it was."""
    opt = make_opt(lrs=(0.3,))
    full = lr_sequence(opt, sched.WarmupCosineLR(opt, 3, 10, 0.01), 12)
    first = make_opt(lrs=(0.3,))
    lr_sequence(first, sched.WarmupCosineLR(first, 3, 10, 0.01), 5)
    resumed = make_opt(lrs=(0.3,))
    resumed.load_state_dict(first.state_dict())  # brings 'initial_lr' back into the groups
    rest = lr_sequence(resumed, sched.WarmupCosineLR(resumed, 3, 10, 0.01, last_epoch=4), 7)
    assert rest == full[5:]


@pytest.mark.parametrize("kwargs, message", [
    (dict(warmup_steps=-1, decay_steps=10), "invalid warmup_steps -1"),
    (dict(warmup_steps=2.5, decay_steps=10), "invalid warmup_steps 2.5"),
    (dict(warmup_steps=2, decay_steps=-3), "invalid decay_steps -3"),
    (dict(warmup_steps=2, decay_steps=10, min_lr=float("nan")), "invalid min_lr nan"),
])
def test_warmup_cosine_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match="^WarmupCosineLR: " + message):
        sched.WarmupCosineLR(make_opt(), **kwargs)


@pytest.mark.parametrize("make, message", [
    (lambda opt: sched.StepLR(opt, step_size=0), "StepLR: invalid step_size 0 (must be a positive integer)"),
    (lambda opt: sched.StepLR(opt, step_size=2.5), "StepLR: invalid step_size 2.5"),
    (lambda opt: sched.StepLR(opt, 3, gamma=float("nan")), "StepLR: invalid gamma nan"),
    (lambda opt: sched.MultiStepLR(opt, [2, -1]), "MultiStepLR: invalid milestones [2, -1]"),
    (lambda opt: sched.ExponentialLR(opt, gamma=float("inf")), "ExponentialLR: invalid gamma inf"),
    (lambda opt: sched.CosineAnnealingLR(opt, T_max=0), "CosineAnnealingLR: invalid T_max 0"),
    (lambda opt: sched.CosineAnnealingLR(opt, T_max=10, eta_min=None), "CosineAnnealingLR: invalid eta_min None"),
    (lambda opt: sched.LinearLR(opt, total_iters=0), "LinearLR: invalid total_iters 0"),
    (lambda opt: sched.LambdaLR(opt, lr_lambda=0.5), "LambdaLR: invalid lr_lambda 0.5"),
    (lambda opt: sched.OneCycleLR(opt, max_lr=0.0, total_steps=10), "OneCycleLR: invalid max_lr 0.0"),
    (lambda opt: sched.OneCycleLR(opt, max_lr=1.0, total_steps=10, div_factor=0), "OneCycleLR: invalid div_factor 0"),
])
def test_settings_that_would_divide_by_zero_are_refused_in_the_constructor(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make(make_opt())


def test_step_lr_and_multistep_lr():
    opt = make_opt()
    seq = lr_sequence(opt, sched.StepLR(opt, step_size=3, gamma=0.5), 8)
    assert [s[0] for s in seq] == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2)
    opt = make_opt()
    seq = lr_sequence(opt, sched.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.1), 6)
    assert [s[0] for s in seq] == pytest.approx([0.1, 0.1, 0.01, 0.01, 1e-4, 1e-4])


def test_exponential_lambda_and_linear_lr_closed_forms():
    opt = make_opt()
    seq = lr_sequence(opt, sched.ExponentialLR(opt, gamma=0.9), 5)
    assert [s[0] for s in seq] == pytest.approx([0.1 * 0.9 ** t for t in range(5)])
    opt = make_opt()
    seq = lr_sequence(opt, sched.LambdaLR(opt, lambda t: 1 / (t + 1)), 4)
    assert [s[0] for s in seq] == pytest.approx([0.1 / (t + 1) for t in range(4)])
    opt = make_opt()
    seq = lr_sequence(opt, sched.LinearLR(opt, start_factor=0.2, end_factor=1.0, total_iters=4), 7)
    assert [s[0] for s in seq] == pytest.approx([0.1 * (0.2 + 0.8 * min(t, 4) / 4) for t in range(7)])


def test_cosine_follows_the_formula_and_climbs_back():
    opt = make_opt()
    seq = lr_sequence(opt, sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.01), 16)
    expected = [0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(16)]
    assert [s[0] for s in seq] == pytest.approx(expected, rel=1e-12)


def test_warmup_then_cosine_with_sequential_lr():
    opt = make_opt(lrs=(1.0,))
    s = sched.SequentialLR(opt, [sched.LinearLR(opt, start_factor=0.25, total_iters=3),
                                 sched.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)], milestones=[3])
    seq = [x[0] for x in lr_sequence(opt, s, 8)]
    assert seq == pytest.approx([0.25, 0.5, 0.75, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5,
                                 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0], abs=1e-12)
    assert s.last_epoch == 8


def test_one_cycle_cycles_momentum_and_betas():
    opt = make_opt("sgd")
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    g = opt.param_groups[0]
    assert g["lr"] == pytest.approx(1.0 / 25) and g["momentum"] == pytest.approx(0.95)
    lr_sequence(opt, s, 2)
    assert g["lr"] == pytest.approx(1.0) and g["momentum"] == pytest.approx(0.85)  # peak at step 2 (30%)
    lr_sequence(opt, s, 7)
    assert g["lr"] == pytest.approx(1.0 / 25 / 1e4) and g["momentum"] == pytest.approx(0.95)
    s.step()
    with pytest.raises(ValueError, match="tried to step 11 times"):
        s.step()
    opt = make_opt("adam")
    sched.OneCycleLR(opt, max_lr=0.01, total_steps=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)


def test_initial_lr_last_epoch_and_resume_requirements():
    opt = make_opt(lrs=(0.1, 0.2))
    s = sched.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.2] and s.last_epoch == 0
    assert s.base_lrs == [0.1, 0.2]
    opt.step()
    s.step()
    assert s.last_epoch == 1 and s.get_last_lr() == pytest.approx([0.05, 0.1])
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(make_opt(), step_size=2, last_epoch=4)
    with pytest.raises(TypeError, match="not an Optimizer"):
        sched.StepLR(object(), step_size=2)


def test_stepping_the_scheduler_first_warns():
    opt = make_opt()
    s = sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    opt = make_opt()
    s = sched.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        s.step()


@pytest.mark.parametrize("name", [*SCHEDULES, *OWN_SCHEDULES])
def test_state_dict_round_trip_through_json(name):
    """Save mid-run as JSON; a fresh optimizer + scheduler continues the same lr sequence."""
    lrs = (0.3, 0.2)
    steps = STEPS.get(name, 14)
    build = {**SCHEDULES, **OWN_SCHEDULES}[name]
    opt = make_opt(lrs=lrs)
    full = lr_sequence(opt, build(sched, opt), steps)

    opt_a = make_opt(lrs=lrs)
    s_a = build(sched, opt_a)
    first = lr_sequence(opt_a, s_a, 5)
    arrays, meta = optim.flatten_state_dict(opt_a.state_dict())
    saved_opt, saved_sched = json.dumps(meta), json.dumps(s_a.state_dict())

    opt_b = make_opt(lrs=lrs)
    s_b = build(sched, opt_b)  # build the scheduler first: it resets the groups' lr
    opt_b.load_state_dict(optim.unflatten_state_dict(arrays, json.loads(saved_opt)))
    s_b.load_state_dict(json.loads(saved_sched))
    rest = lr_sequence(opt_b, s_b, steps - 5)
    np.testing.assert_array_equal(first + rest, full)


@pytest.mark.parametrize("name", list(SCHEDULES))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_lr_sequence_matches_torch(name, kind):
    torch = pytest.importorskip("torch")
    lrs = (0.3, 0.2)
    steps = STEPS.get(name, 25)
    opt = make_opt(kind, lrs)
    ours = SCHEDULES[name](sched, opt)
    tparams = [torch.zeros(2, requires_grad=True) for _ in lrs]
    tgroups = [{"params": [p], "lr": lr} for p, lr in zip(tparams, lrs)]
    topt = torch.optim.SGD(tgroups, lr=lrs[0], momentum=0.9) if kind == "sgd" else torch.optim.Adam(tgroups, lr=lrs[0])
    theirs = SCHEDULES[name](torch.optim.lr_scheduler, topt)
    for _ in range(steps):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-13, abs=1e-15)
        for g, tg in zip(opt.param_groups, topt.param_groups):
            assert g["lr"] == pytest.approx(tg["lr"], rel=1e-13, abs=1e-15)
            if kind == "sgd":
                assert g["momentum"] == pytest.approx(tg["momentum"], rel=1e-13)
            else:
                assert g["betas"] == pytest.approx(tg["betas"], rel=1e-13)
        assert ours.last_epoch == theirs.last_epoch
        opt.step()
        topt.step()
        ours.step()
        theirs.step()


def test_schedulers_drive_the_update():
    """The lr a scheduler sets is the one the next step uses."""
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    s = sched.StepLR(opt, step_size=1, gamma=0.5)
    for expected in (0.0, -0.5, -0.75):
        p.grad = Tensor(np.array([1.0]))
        opt.step()
        s.step()
        np.testing.assert_allclose(p.data, [expected])
