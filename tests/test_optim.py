"""Generic optimizer tests, driven by one table (`tests/optim_cases.py`), and the Optimizer contract.

Every optimizer in `optim.OPTIMIZERS` must have a row (`test_every_optimizer_has_a_row`
fails, naming it, until it does), and its variants must together touch every
constructor option. Each row runs the conformance kit `optim.testing` (the same
checks a user's own optimizer can run), its trajectories are compared with its numpy
reference and with torch.optim, and it must reach the minimum of the surfaces its row
says apply.
"""
import copy
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import optim
from engine import Tensor
from optim import testing
from optim_cases import CASES

ROOT = Path(__file__).resolve().parent.parent
ROWS = {case.name: case for case in CASES}
VARIANTS = [(case, i) for case in CASES for i in range(len(case.variants))]


def variant_id(value):
    case, i = value
    return f"{case.name}-{i}-" + "-".join(f"{k}={v}" for k, v in case.variants[i].items())


def case_id(case):
    return case.name


def optimizer_class(case):
    return optim.OPTIMIZERS[case.name]


# ----------------------------------------------------------------------------
# problems
# ----------------------------------------------------------------------------

def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.normal(size=(3, 2)).astype(dtype), requires_grad=True),
            Tensor(rng.normal(size=(4,)).astype(dtype), requires_grad=True)]


def grad_fn(a):
    """A fixed, non-linear gradient field (the same numbers for us, the reference and torch)."""
    return 0.8 * a - 0.3 + 0.5 * np.sin(3.0 * a) + 0.1 * a * a


_TARGETS = [np.linspace(-1, 1, 6).reshape(3, 2), np.array([0.5, -2.0, 1.0, 3.0])]
_SCALES = [np.array([[1.0, 2.0], [4.0, 8.0], [0.5, 1.0]]), np.array([1.0, 3.0, 9.0, 0.3])]


def quadratic_loss(params):
    """sum(scale * (p - target)^2): minimum at the targets, condition number 30."""
    total = None
    for p, t, s in zip(params, _TARGETS, _SCALES):
        d = p - Tensor(t.astype(p.dtype))
        term = (d * d * Tensor(s.astype(p.dtype))).sum()
        total = term if total is None else total + term
    return total


def rosenbrock_loss(params):
    x, y = params
    a, b = 1 - x, y - x * x
    return a * a + 100 * b * b


def grad_field_steps(opt, params, steps):
    """`steps` first-order steps with the gradients of `grad_fn`."""
    for _ in range(steps):
        for p in params:
            p.grad = Tensor(grad_fn(p.data))
        opt.step()


def loss_steps(opt, params, steps, loss_fn):
    """`steps` steps on `loss_fn`, through a closure where the optimizer needs one (with create_graph for Newton)."""
    second_order = optim.needs_closure(type(opt))

    def closure():
        opt.zero_grad()
        loss = loss_fn(params)
        loss.backward(create_graph=second_order)
        return loss

    for _ in range(steps):
        if second_order:
            opt.step(closure)
        else:
            closure()
            opt.step()


# ----------------------------------------------------------------------------
# the table is complete
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_every_optimizer_has_a_row(name):
    assert name in ROWS, f"optimizer {name!r} has no row in tests/optim_cases.py (see docs/architecture.md)"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_every_row_is_a_registered_optimizer(case):
    assert case.name in optim.OPTIMIZERS, f"row {case.name!r} of tests/optim_cases.py is not in optim.OPTIMIZERS"


@pytest.mark.parametrize("case", [c for c in CASES if c.name in optim.OPTIMIZERS], ids=case_id)
def test_variants_touch_every_option(case):
    options = [p for p in inspect.signature(optimizer_class(case).__init__).parameters if p not in ("self", "params")]
    used = {k for kw in case.variants for k in kw}
    assert set(options) - used == set(), f"{case.name}: no variant sets {sorted(set(options) - used)}"


def table_rows(page):
    """{name: row text} of the optimizer table at the top of a docs page (rows start with | `name` |)."""
    section = page.split("## The table", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", section, re.MULTILINE)}


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_the_optimizers_page_has_a_row(name):
    rows = table_rows((ROOT / "docs" / "optimizers.md").read_text(encoding="utf-8"))
    assert name in rows, f"docs/optimizers.md's table has no row for {name!r}"
    assert f"`{optim.OPTIMIZERS[name].__name__}(" in rows[name], \
        f"docs/optimizers.md's row for {name!r} does not show {optim.OPTIMIZERS[name].__name__}(...)"


def test_the_optimizers_page_shows_no_unknown_optimizer():
    rows = table_rows((ROOT / "docs" / "optimizers.md").read_text(encoding="utf-8"))
    unknown = sorted(set(rows) - set(optim.OPTIMIZERS))
    assert not unknown, f"rows for unknown optimizers: {unknown}"


# ----------------------------------------------------------------------------
# the conformance kit, on every variant of every row
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("check", list(testing.CHECKS))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_conformance(variant, check):
    case, i = variant
    outcome = testing.CHECKS[check](optimizer_class(case), **copy.deepcopy(case.variants[i]))
    if outcome is not None:
        pytest.skip(f"{case.name}: {check} does not apply: {outcome}")


@pytest.mark.parametrize("case", [c for c in CASES if optim.needs_closure(optim.OPTIMIZERS[c.name])], ids=case_id)
def test_closure_optimizers_refuse_groups(case):
    params = make_params()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.create(case.name, [{"params": [params[0]]}, {"params": [params[1]]}])


# ----------------------------------------------------------------------------
# trajectories: 20 steps equal the documented update rule, and torch.optim
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0].reference is not None], ids=variant_id)
def test_trajectory_matches_reference(variant):
    case, i = variant
    kw = case.variants[i]
    params = make_params()
    opt = optim.create(case.name, params, **kw)
    thetas = [p.data.copy() for p in params]
    states = [{} for _ in params]
    for _ in range(20):
        grad_field_steps(opt, params, 1)
        thetas = [case.reference(th, grad_fn(th), st, **kw) for th, st in zip(thetas, states)]
        for p, th in zip(params, thetas):
            np.testing.assert_allclose(p.data, th, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0].torch is not None], ids=variant_id)
def test_trajectory_matches_torch(variant):
    torch = pytest.importorskip("torch")
    case, i = variant
    kw = case.variants[i]
    params = make_params()
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    opt = optim.create(case.name, params, **kw)
    topt = getattr(torch.optim, case.torch)(tparams, **kw)
    for _ in range(20):
        for p, tp in zip(params, tparams):
            p.grad = Tensor(grad_fn(p.data))
            tp.grad = torch.from_numpy(grad_fn(tp.detach().numpy()))
        opt.step()
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if not optim.needs_closure(optimizer_class(v[0]))],
                         ids=variant_id)
def test_explain_step_takes_the_same_step_and_states_it(variant):
    """explain_step() steps exactly as step(); an optimizer that describes its rule (`_explain`, as every
    built-in first-order one does) states it, and its last quantity is the step taken."""
    case, i = variant
    describes = optimizer_class(case)._explain is not optim.Optimizer._explain
    plain, explained = make_params(), make_params()
    stepped = optim.create(case.name, plain, **case.variants[i])
    explaining = optim.create(case.name, explained, **case.variants[i])
    rng = np.random.default_rng(1)
    for _ in range(3):
        for p, q in zip(plain, explained):
            g = rng.normal(size=p.shape)
            p.grad, q.grad = Tensor(g.copy()), Tensor(g.copy())
        before = [q.data.copy() for q in explained]
        stepped.step()
        explanations = explaining.explain_step()
        assert [e.param for e in explanations] == explained
        for e, p, q, b in zip(explanations, plain, explained, before):
            assert np.array_equal(p.data, q.data)
            if not describes:
                assert e.rule is None and e.quantities == []
                continue
            assert isinstance(e.rule, str) and "θ ←" in e.rule, e.rule
            label, step = e.quantities[-1]
            assert label.endswith("the step"), label
            decay = dict(e.quantities).get("α·λ·θ, the decay", 0.0)
            np.testing.assert_allclose(b - q.data, np.asarray(step) + decay, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_the_first_order_optimizers_describe_their_rule(name):
    assert optim.OPTIMIZERS[name]._explain is not optim.Optimizer._explain   # the explorer shows it


class Halving(optim.Optimizer):
    """θ ← θ − g/2, without a rule stated (no `_explain`); test_explorer shows it on a page too."""

    def __init__(self, params):
        super().__init__(params, {})

    def _update(self, param, grad, state, group):
        param -= 0.5 * grad


def test_an_optimizer_that_does_not_state_its_rule_still_explains_its_step():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a.grad = Tensor(np.array([2.0, 2.0]))
    (e,) = Halving([a, b]).explain_step()                       # b has no gradient: not stepped, not explained
    assert e.param is a and e.rule is None and e.quantities == []
    assert a.data.tolist() == [0.0, 1.0] and b.data.tolist() == [1.0, 2.0]


# ----------------------------------------------------------------------------
# convergence, on the surfaces each row says apply
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c.quadratic is not None], ids=case_id)
def test_converges_on_quadratic(case):
    params = make_params()
    opt = optim.create(case.name, params, **case.quadratic)
    loss_steps(opt, params, 3 if optim.needs_closure(type(opt)) else 500, quadratic_loss)
    for p, t in zip(params, _TARGETS):
        np.testing.assert_allclose(p.data, t, atol=1e-4)


@pytest.mark.parametrize("case", [c for c in CASES if c.rosenbrock is not None], ids=case_id)
def test_converges_on_rosenbrock(case):
    kw, steps = case.rosenbrock
    params = [Tensor(np.array(-1.2), requires_grad=True), Tensor(np.array(1.0), requires_grad=True)]
    opt = optim.create(case.name, params, **kw)
    for _ in range(steps):
        loss_steps(opt, params, 1, rosenbrock_loss)
        if abs(params[0].item() - 1) < 1e-3 and abs(params[1].item() - 1) < 1e-3:
            break
    assert abs(params[0].item() - 1) < 1e-3 and abs(params[1].item() - 1) < 1e-3, [p.item() for p in params]


# ----------------------------------------------------------------------------
# the Optimizer contract
# ----------------------------------------------------------------------------

def test_state_dict_has_pytorchs_layout():
    params = make_params()
    opt = optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}], lr=0.1, momentum=0.9)
    grad_field_steps(opt, params, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert set(sd["state"]) == {0, 1} and set(sd["state"][0]) == {"momentum_buffer"}


def test_load_state_dict_validates():
    params = make_params()
    opt = optim.Adam(params)
    grad_field_steps(opt, params, 1)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 parameter group.*has 2"):
        optim.Adam(make_params()).load_state_dict({**sd, "param_groups": sd["param_groups"] * 2})
    with pytest.raises(ValueError, match="parameter group 0 has 1 parameter.*has 2"):
        optim.Adam([make_params()[0]]).load_state_dict(sd)
    swapped = [Tensor(np.zeros(4), requires_grad=True), Tensor(np.zeros((3, 2)), requires_grad=True)]
    with pytest.raises(ValueError, match=r"exp_avg.*shape \(3, 2\).*shape \(4,\)"):
        optim.Adam(swapped).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        optim.Adam(make_params()).load_state_dict({"state": {}})


def test_load_state_dict_casts_to_the_parameter_dtype():
    params = make_params()
    opt = optim.Adam(params)
    grad_field_steps(opt, params, 1)
    params32 = make_params(np.float32)
    opt32 = optim.Adam(params32)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[params32[0]]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_invalid_hyperparameters_raise_naming_them(case):
    cls = optimizer_class(case)
    for kw, option, value in case.invalid:
        with pytest.raises(ValueError, match="^" + re.escape(f"{cls.__name__}: invalid {option} {value!r} (must be")):
            cls(make_params(), **kw)


def test_invalid_hyperparameter_in_a_later_group():
    with pytest.raises(ValueError, match=r"Adam: invalid beta1 1.5 \(must be in \[0, 1\)\)"):
        optim.Adam([{"params": [make_params()[0]]}, {"params": [make_params()[1]], "betas": (1.5, 0.9)}])


def test_params_must_be_tensors_that_require_grad():
    with pytest.raises(TypeError, match="can only optimize Tensors.*ndarray"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([Tensor(np.zeros(3))], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(make_params()[0], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    p = make_params()[0]
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_add_param_group_takes_defaults():
    params = make_params()
    opt = optim.SGD([params[0]], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": params[1], "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01


def test_named_parameters_label_groups():
    params = make_params()
    opt = optim.Adam([("w", params[0]), ("b", params[1])])
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


# ----------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------

def test_registry_lookup_and_errors():
    assert optim.get_optimizer("adam") is optim.Adam and optim.get_optimizer(" AdamW ") is optim.AdamW
    with pytest.raises(optim.OptimizerNotFound, match=r"^unknown optimizer 'adamx'; choose one of: sgd, adam, "):
        optim.get_optimizer("adamx")
    opt = optim.create("sgd", make_params(), lr=0.2, momentum=0.5)
    assert isinstance(opt, optim.SGD) and opt.defaults["momentum"] == 0.5


def test_an_optimizer_needs_a_closure_when_its_step_has_no_default_for_it():
    class Plain(optim.SGD):
        def step(self, closure=None):
            """A step that may take a closure."""
            return super().step(closure)

    class Curvature(optim.SGD):
        def step(self, closure):
            """A step that must have one."""
            return super().step(closure)

    assert not optim.needs_closure(Plain) and optim.needs_closure(Curvature)
    assert optim.needs_closure(optim.LBFGS) and optim.needs_closure(optim.Newton)
    assert optim.CLOSURE_OPTIMIZERS == {name for name, cls in optim.OPTIMIZERS.items() if optim.needs_closure(cls)}


def test_every_public_name_has_a_docstring():
    for name in optim.__all__:
        obj = getattr(optim, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
    for cls in optim.OPTIMIZERS.values():
        assert cls.__doc__ and cls.step.__doc__
