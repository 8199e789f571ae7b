"""Generic optimizer tests, driven by one table (`CASES`) derived from `optim.OPTIMIZERS`.

Every optimizer must have a row here (a test fails otherwise), and its kwargs
variants must together touch every constructor option. First-order trajectories
are checked against numpy references written from PyTorch's documented
pseudocode, and (when torch is installed) against torch.optim itself.
"""
import copy
import inspect
import json
import re

import numpy as np
import pytest

import optim
from engine import Tensor

# ----------------------------------------------------------------------------
# numpy references, straight from the pseudocode in PyTorch's docs
# (one parameter array at a time; `st` is that parameter's state dict)
# ----------------------------------------------------------------------------


def ref_sgd(theta, grad, st, lr, momentum=0, dampening=0, nesterov=False, weight_decay=0, maximize=False):
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * theta
    if momentum != 0:
        b = g if "b" not in st else momentum * st["b"] + (1 - dampening) * g
        st["b"] = b
        g = g + momentum * b if nesterov else b
    return theta - lr * g


def ref_adam(theta, grad, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
             maximize=False, decoupled_weight_decay=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    g = -grad if maximize else grad
    if decoupled_weight_decay:
        theta = theta - lr * weight_decay * theta
    elif weight_decay != 0:
        g = g + weight_decay * theta
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    if amsgrad:
        v = st["vmax"] = np.maximum(st.get("vmax", 0), v)
    v_hat = v / (1 - b2 ** t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(theta, grad, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
              maximize=False):
    return ref_adam(theta, grad, st, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay=True)


def ref_rmsprop(theta, grad, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * theta
    v = st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
    v_tilde = v
    if centered:
        gave = st["gave"] = st.get("gave", 0) * alpha + (1 - alpha) * g
        v_tilde = v_tilde - gave ** 2
    if momentum > 0:
        b = st["b"] = momentum * st.get("b", 0) + g / (np.sqrt(v_tilde) + eps)
        return theta - lr * b
    return theta - lr * g / (np.sqrt(v_tilde) + eps)


def ref_adagrad(theta, grad, st, lr=1e-2, lr_decay=0, weight_decay=0, eps=1e-10, initial_accumulator_value=0,
                maximize=False):
    t = st["t"] = st.get("t", 0) + 1
    g = -grad if maximize else grad
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay != 0:
        g = g + weight_decay * theta
    s = st["sum"] = st.get("sum", initial_accumulator_value) + g * g
    return theta - clr * g / (np.sqrt(s) + eps)


# ----------------------------------------------------------------------------
# the table: one row per optimizer in optim.OPTIMIZERS
# ----------------------------------------------------------------------------

CASES = {
    "sgd": dict(
        reference=ref_sgd,
        variants=[
            dict(lr=0.05),
            dict(lr=0.05, momentum=0.9),
            dict(lr=0.05, momentum=0.9, dampening=0.3),
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
            dict(lr=0.05, weight_decay=0.1, maximize=True),
            dict(lr=0.05, momentum=0.5, nesterov=True, maximize=True),
        ],
        quadratic=dict(lr=0.1, momentum=0.9), rosenbrock=(dict(lr=1.5e-3, momentum=0.9), 2000),
        invalid=[(dict(lr=-0.1), "lr", -0.1), (dict(lr=0.1, momentum=-0.5), "momentum", -0.5),
                 (dict(lr=0.1, weight_decay=-1.0), "weight_decay", -1.0),
                 (dict(lr=0.1, nesterov=True), "nesterov", True),
                 (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "nesterov", True)],
    ),
    "adam": dict(
        reference=ref_adam,
        variants=[
            dict(),
            dict(lr=0.01, betas=(0.8, 0.99)),
            dict(lr=0.01, eps=1e-3, weight_decay=0.1),
            dict(lr=0.01, amsgrad=True),
            dict(lr=0.01, maximize=True, weight_decay=0.05, amsgrad=True),
            dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1),
        ],
        quadratic=dict(lr=0.1), rosenbrock=(dict(lr=0.1), 2000),
        invalid=[(dict(lr=-1e-3), "lr", -1e-3), (dict(betas=(1.5, 0.9)), "beta1", 1.5),
                 (dict(betas=(0.9, 1.0)), "beta2", 1.0), (dict(betas=(-0.1, 0.9)), "beta1", -0.1),
                 (dict(eps=-1e-8), "eps", -1e-8), (dict(weight_decay=-0.1), "weight_decay", -0.1)],
    ),
    "adamw": dict(
        reference=ref_adamw,
        variants=[
            dict(),
            dict(lr=0.01, weight_decay=0.3, amsgrad=True),
            dict(lr=0.01, maximize=True),
            dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4),
        ],
        quadratic=dict(lr=0.1, weight_decay=0.0), rosenbrock=(dict(lr=0.1, weight_decay=0.0), 2000),
        invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(betas=(0.9, 1.5)), "beta2", 1.5),
                 (dict(weight_decay=-0.01), "weight_decay", -0.01), (dict(eps=-1.0), "eps", -1.0)],
    ),
    "rmsprop": dict(
        reference=ref_rmsprop,
        variants=[
            dict(),
            dict(lr=0.005, alpha=0.9, eps=1e-4),
            dict(lr=0.005, momentum=0.9),
            dict(lr=0.005, centered=True),
            dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1),
            dict(lr=0.005, maximize=True),
        ],
        quadratic=dict(lr=0.01, momentum=0.5), rosenbrock=(dict(lr=1e-3, momentum=0.9), 2000),
        invalid=[(dict(lr=-0.01), "lr", -0.01), (dict(alpha=-0.5), "alpha", -0.5), (dict(eps=-1.0), "eps", -1.0),
                 (dict(momentum=-0.9), "momentum", -0.9), (dict(weight_decay=-1.0), "weight_decay", -1.0)],
    ),
    "adagrad": dict(
        reference=ref_adagrad,
        variants=[
            dict(),
            dict(lr=0.1, lr_decay=0.1),
            dict(lr=0.1, weight_decay=0.1, eps=1e-5),
            dict(lr=0.1, initial_accumulator_value=0.5),
            dict(lr=0.1, maximize=True),
        ],
        quadratic=dict(lr=0.5), rosenbrock=(dict(lr=0.5), 12000),
        invalid=[(dict(lr=-0.01), "lr", -0.01), (dict(lr_decay=-0.1), "lr_decay", -0.1),
                 (dict(weight_decay=-0.1), "weight_decay", -0.1), (dict(eps=-1e-10), "eps", -1e-10),
                 (dict(initial_accumulator_value=-1.0), "initial_accumulator_value", -1.0)],
    ),
    "lbfgs": dict(
        reference=None,
        variants=[
            dict(),
            dict(line_search_fn="strong_wolfe"),
            dict(lr=0.5, history_size=3, max_iter=5),
            dict(max_eval=7, tolerance_grad=1e-5, tolerance_change=1e-7),
        ],
        quadratic=dict(line_search_fn="strong_wolfe"), rosenbrock=(dict(line_search_fn="strong_wolfe"), 10),
        invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(history_size=0), "history_size", 0),
                 (dict(max_iter=0), "max_iter", 0), (dict(line_search_fn="armijo"), "line_search_fn", "armijo"),
                 (dict(tolerance_grad=-1.0), "tolerance_grad", -1.0)],
    ),
    "newton": dict(
        reference=None,
        variants=[
            dict(),
            dict(damping=0.1),
            dict(max_dense=0),
            dict(max_dense=0, cg_max_iter=2, cg_tol=1e-3, lr=0.5),
        ],
        quadratic=dict(), rosenbrock=(dict(), 20),
        invalid=[(dict(lr=-1.0), "lr", -1.0), (dict(damping=-0.1), "damping", -0.1),
                 (dict(max_dense=-1), "max_dense", -1), (dict(cg_max_iter=0), "cg_max_iter", 0),
                 (dict(cg_tol=-1.0), "cg_tol", -1.0)],
    ),
}

FIRST_ORDER = [n for n in optim.OPTIMIZERS if n not in optim.CLOSURE_OPTIMIZERS]
VARIANTS = [(name, i) for name in optim.OPTIMIZERS for i in range(len(CASES[name]["variants"]))]
FIRST_ORDER_VARIANTS = [(n, i) for n, i in VARIANTS if n in FIRST_ORDER]


def kwargs_of(name, i):
    kw = dict(CASES[name]["variants"][i])
    if name == "sgd":
        kw.setdefault("lr", 0.05)
    return kw


def variant_id(case):
    name, i = case
    return f"{name}-{i}-" + "-".join(f"{k}={v}" for k, v in CASES[name]["variants"][i].items())


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


def run_steps(opt, params, steps, loss_fn=None, create_graph=False):
    """`steps` optimizer steps; gradients from `grad_fn` (first order) or from `loss_fn` by backward."""
    for _ in range(steps):
        if loss_fn is None:
            for p in params:
                p.grad = Tensor(grad_fn(p.data))
            opt.step()
        else:
            def closure():
                opt.zero_grad()
                loss = loss_fn(params)
                loss.backward(create_graph=create_graph)
                return loss
            if isinstance(opt, (optim.LBFGS, optim.Newton)):
                opt.step(closure)
            else:
                closure()
                opt.step()


def closure_steps(name, opt, params, steps, loss_fn):
    run_steps(opt, params, steps, loss_fn, create_graph=name == "newton")


# ----------------------------------------------------------------------------
# the table is complete
# ----------------------------------------------------------------------------

def test_table_covers_every_optimizer():
    assert set(CASES) == set(optim.OPTIMIZERS)


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_variants_touch_every_option(name):
    cls = optim.OPTIMIZERS[name]
    options = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    used = {k for kw in CASES[name]["variants"] for k in kw}
    assert set(options) - used == set(), f"{name}: no variant sets {sorted(set(options) - used)}"


# ----------------------------------------------------------------------------
# trajectories: 20 steps equal the documented update rule
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", FIRST_ORDER_VARIANTS, ids=variant_id)
def test_trajectory_matches_reference(case):
    name, i = case
    kw = kwargs_of(name, i)
    params = make_params()
    opt = optim.create(name, params, **kw)
    thetas = [p.data.copy() for p in params]
    states = [{} for _ in params]
    ref = CASES[name]["reference"]
    for _ in range(20):
        for p in params:
            p.grad = Tensor(grad_fn(p.data))
        opt.step()
        thetas = [ref(th, grad_fn(th), st, **kw) for th, st in zip(thetas, states)]
        for p, th in zip(params, thetas):
            np.testing.assert_allclose(p.data, th, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", FIRST_ORDER_VARIANTS, ids=variant_id)
def test_trajectory_matches_torch(case):
    torch = pytest.importorskip("torch")
    name, i = case
    kw = kwargs_of(name, i)
    params = make_params()
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    torch_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                 "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}[name]
    opt = optim.create(name, params, **kw)
    topt = torch_cls(tparams, **kw)
    for _ in range(20):
        for p, tp in zip(params, tparams):
            p.grad = Tensor(grad_fn(p.data))
            tp.grad = torch.from_numpy(grad_fn(tp.detach().numpy()))
        opt.step()
        topt.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_float32_stays_float32(name):
    params = make_params(np.float32)
    opt = optim.create(name, params, **kwargs_of(name, len(CASES[name]["variants"]) - 1))
    run_steps(opt, params, 3)
    assert all(p.data.dtype == np.float32 for p in params)
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32


# ----------------------------------------------------------------------------
# convergence
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_converges_on_quadratic(name):
    params = make_params()
    opt = optim.create(name, params, **CASES[name]["quadratic"])
    steps = 3 if name in optim.CLOSURE_OPTIMIZERS else 500
    closure_steps(name, opt, params, steps, quadratic_loss)
    for p, t in zip(params, _TARGETS):
        np.testing.assert_allclose(p.data, t, atol=1e-4)


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_converges_on_rosenbrock(name):
    kw, steps = CASES[name]["rosenbrock"]
    params = [Tensor(np.array(-1.2), requires_grad=True), Tensor(np.array(1.0), requires_grad=True)]
    opt = optim.create(name, params, **kw)
    for _ in range(steps):
        closure_steps(name, opt, params, 1, rosenbrock_loss)
        if abs(params[0].item() - 1) < 1e-3 and abs(params[1].item() - 1) < 1e-3:
            break
    assert abs(params[0].item() - 1) < 1e-3 and abs(params[1].item() - 1) < 1e-3, [p.item() for p in params]


# ----------------------------------------------------------------------------
# the Optimizer contract
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", VARIANTS, ids=variant_id)
def test_params_without_grad_are_skipped(case):
    name, i = case
    params = make_params()
    frozen = params[1].data.copy()
    opt = optim.create(name, params, **kwargs_of(name, i))
    closure_steps(name, opt, params, 3, lambda ps: quadratic_loss(ps[:1]))
    assert params[1].grad is None
    np.testing.assert_array_equal(params[1].data, frozen)
    assert not np.array_equal(params[0].data, make_params()[0].data)
    if name not in optim.CLOSURE_OPTIMIZERS:
        assert params[1] not in opt.state


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_two_param_groups_with_their_own_lr(name):
    base = kwargs_of(name, 0)
    params = make_params()
    opt = optim.create(name, [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.003}], **base)
    assert opt.param_groups[1]["lr"] == 0.003 and opt.param_groups[0]["lr"] == base.get("lr", opt.defaults["lr"])
    alone = make_params()
    opt0 = optim.create(name, [alone[0]], **base)
    opt1 = optim.create(name, [alone[1]], **{**base, "lr": 0.003})
    for _ in range(5):
        run_steps(opt, params, 1)
        run_steps(opt0, alone[:1], 1)
        run_steps(opt1, alone[1:], 1)
    for p, q in zip(params, alone):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", list(optim.CLOSURE_OPTIMIZERS))
def test_closure_optimizers_refuse_groups(name):
    params = make_params()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.create(name, [{"params": [params[0]]}, {"params": [params[1]]}])


@pytest.mark.parametrize("case", VARIANTS, ids=variant_id)
def test_state_dict_round_trip_mid_run(case):
    """Stop after 4 steps, save through arrays + JSON, load into a fresh optimizer, continue."""
    name, i = case
    kw = kwargs_of(name, i)
    loss = quadratic_loss if name in optim.CLOSURE_OPTIMIZERS else None

    def advance(opt, params, n):
        if loss is None:
            run_steps(opt, params, n)
        else:
            closure_steps(name, opt, params, n, loss)

    straight = make_params()
    opt = optim.create(name, straight, **kw)
    advance(opt, straight, 8)

    first = make_params()
    opt_a = optim.create(name, first, **kw)
    advance(opt_a, first, 4)
    arrays, meta = optim.flatten_state_dict(opt_a.state_dict())
    meta = json.loads(json.dumps(meta))
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    opt_b = optim.create(name, resumed, **kw)
    opt_b.load_state_dict(optim.unflatten_state_dict(arrays, meta))
    advance(opt_b, resumed, 4)
    for p, q in zip(straight, resumed):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_state_dict_is_a_snapshot_in_pytorch_layout(name):
    params = make_params()
    opt = optim.create(name, [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5}], **kwargs_of(name, 1))
    run_steps(opt, params, 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert set(sd["state"]) == {0, 1}
    before = copy.deepcopy(sd)
    run_steps(opt, params, 1)
    for k, v in sd["state"][0].items():
        np.testing.assert_array_equal(v, before["state"][0][k])


def test_load_state_dict_validates():
    params = make_params()
    opt = optim.Adam(params)
    run_steps(opt, params, 1)
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
    run_steps(opt, params, 1)
    params32 = make_params(np.float32)
    opt32 = optim.Adam(params32)
    opt32.load_state_dict(opt.state_dict())
    assert opt32.state[params32[0]]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_invalid_hyperparameters_raise_naming_them(name):
    cls = optim.OPTIMIZERS[name]
    for kw, option, value in CASES[name]["invalid"]:
        if name == "sgd":
            kw = {"lr": 0.1, **kw}
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


def test_zero_grad():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)
    run_steps(opt, params, 1)
    grad = params[0].grad
    opt.zero_grad(set_to_none=False)
    assert params[0].grad is grad and not grad.data.any()
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_returns_the_closure_loss():
    params = make_params()
    opt = optim.SGD(params, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = quadratic_loss(params)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() > 0 and opt.step() is None


# ----------------------------------------------------------------------------
# the registry
# ----------------------------------------------------------------------------

def test_registry_lookup_and_errors():
    assert optim.get_optimizer("adam") is optim.Adam and optim.get_optimizer(" AdamW ") is optim.AdamW
    assert list(optim.OPTIMIZERS) == ["sgd", "adam", "adamw", "rmsprop", "adagrad", "lbfgs", "newton"]
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamx'; choose one of: sgd, adam, adamw, rmsprop, "
                                         r"adagrad, lbfgs, newton"):
        optim.get_optimizer("adamx")
    opt = optim.create("sgd", make_params(), lr=0.2, momentum=0.5)
    assert isinstance(opt, optim.SGD) and opt.defaults["momentum"] == 0.5


def test_every_public_name_has_a_docstring():
    for name in optim.__all__:
        obj = getattr(optim, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
    for cls in optim.OPTIMIZERS.values():
        assert cls.__doc__ and cls.step.__doc__
