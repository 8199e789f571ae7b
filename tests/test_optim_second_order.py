"""Newton and L-BFGS: closure-based optimizers that use curvature."""
import numpy as np
import pytest

import optim
from engine import Tensor


def linreg_data():
    rng = np.random.default_rng(42)
    x = rng.uniform(0, 1, 100)
    y = 2 * x + 1 + rng.uniform(0, 1, 100)
    return x, y


def mse_closure(opt, theta0, theta1, x, y, create_graph=True):
    X, Y = Tensor(x), Tensor(y)

    def closure():
        opt.zero_grad()
        d = theta0 + theta1 * X - Y
        loss = (d * d).mean()
        loss.backward(create_graph=create_graph)
        return loss

    return closure


def lstsq_answer(x, y):
    return np.linalg.lstsq(np.stack([np.ones_like(x), x], axis=1), y, rcond=None)[0]


# ----------------------------------------------------------------------------
# Newton
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("max_dense", [2000, 0], ids=["dense", "cg"])
def test_newton_solves_linear_regression_in_one_step(max_dense):
    x, y = linreg_data()
    theta0 = Tensor(np.array(0.0), requires_grad=True)
    theta1 = Tensor(np.array(0.0), requires_grad=True)
    opt = optim.Newton([theta0, theta1], max_dense=max_dense)
    loss = opt.step(mse_closure(opt, theta0, theta1, x, y))
    expected = lstsq_answer(x, y)
    assert abs(theta0.item() - expected[0]) < 1e-9 and abs(theta1.item() - expected[1]) < 1e-9
    assert loss.item() > 1.0  # the loss before the step
    st = opt.state[theta0]
    assert st["solver"] == ("dense" if max_dense else "cg") and st["step"] == 1
    assert theta0.grad is not None and not theta0.grad.requires_grad  # graph released


def test_newton_damping_and_lr_follow_the_formula():
    x, y = linreg_data()
    theta0 = Tensor(np.array(0.5), requires_grad=True)
    theta1 = Tensor(np.array(-1.0), requires_grad=True)
    opt = optim.Newton([theta0, theta1], lr=0.5, damping=0.3)
    opt.step(mse_closure(opt, theta0, theta1, x, y))
    A = np.stack([np.ones_like(x), x], axis=1)
    w = np.array([0.5, -1.0])
    g = 2 * A.T @ (A @ w - y) / len(x)
    H = 2 * A.T @ A / len(x)
    expected = w - 0.5 * np.linalg.solve(H + 0.3 * np.eye(2), g)
    np.testing.assert_allclose([theta0.item(), theta1.item()], expected, rtol=1e-12)


def rosenbrock_newton_reference(x, y):
    g = np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])
    H = np.array([[2 - 400 * y + 1200 * x * x, -400 * x], [-400 * x, 200.0]])
    return np.array([x, y]) - np.linalg.solve(H, g)


@pytest.mark.parametrize("max_dense", [2000, 0], ids=["dense", "cg"])
def test_newton_on_rosenbrock_matches_the_analytic_newton_iteration(max_dense):
    x = Tensor(np.array(-1.2), requires_grad=True)
    y = Tensor(np.array(1.0), requires_grad=True)
    opt = optim.Newton([x, y], max_dense=max_dense)

    def closure():
        opt.zero_grad()
        a, b = 1 - x, y - x * x
        loss = a * a + 100 * b * b
        loss.backward(create_graph=True)
        return loss

    point = np.array([-1.2, 1.0])
    for _ in range(7):
        opt.step(closure)
        point = rosenbrock_newton_reference(*point)
        np.testing.assert_allclose([x.item(), y.item()], point, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(point, [1.0, 1.0], atol=1e-12)


def test_newton_cg_matches_dense_on_a_bigger_least_squares():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(60, 25))
    b = rng.normal(size=60)
    results = []
    for max_dense in (100, 10):
        w = Tensor(np.zeros((5, 5)), requires_grad=True)
        c = Tensor(np.zeros(1), requires_grad=True)
        opt = optim.Newton([w, c], max_dense=max_dense, damping=1e-3)

        def closure():
            opt.zero_grad()
            r = Tensor(A) @ w.reshape(25) + c - Tensor(b)
            loss = (r * r).sum()
            loss.backward(create_graph=True)
            return loss

        opt.step(closure)
        results.append(np.concatenate([w.data.ravel(), c.data]))
        assert opt.state[w]["solver"] == ("dense" if max_dense == 100 else "cg")
    M = np.hstack([A, np.ones((60, 1))])
    expected = np.linalg.solve(2 * M.T @ M + 1e-3 * np.eye(26), 2 * M.T @ b)
    np.testing.assert_allclose(results[0], expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(results[1], expected, rtol=1e-6, atol=1e-8)


def test_newton_keeps_float32():
    x, y = linreg_data()
    theta0 = Tensor(np.array(0.0, dtype=np.float32), requires_grad=True)
    theta1 = Tensor(np.array(0.0, dtype=np.float32), requires_grad=True)
    opt = optim.Newton([theta0, theta1])
    opt.step(mse_closure(opt, theta0, theta1, x.astype(np.float32), y.astype(np.float32)))
    assert theta0.dtype == np.float32 and theta1.dtype == np.float32
    np.testing.assert_allclose([theta0.item(), theta1.item()], lstsq_answer(x, y), atol=1e-4)


def test_newton_needs_a_create_graph_closure():
    x, y = linreg_data()
    theta0 = Tensor(np.array(0.0), requires_grad=True)
    theta1 = Tensor(np.array(0.0), requires_grad=True)
    opt = optim.Newton([theta0, theta1])
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step(None)
    with pytest.raises(RuntimeError, match=r"backward\(create_graph=True\)"):
        opt.step(mse_closure(opt, theta0, theta1, x, y, create_graph=False))


def test_newton_singular_hessian_takes_the_least_squares_step():
    """f = (a + b - 3)^2 has a singular Hessian; the step is the minimum-norm solution."""
    a = Tensor(np.array(0.0), requires_grad=True)
    b = Tensor(np.array(1.0), requires_grad=True)
    opt = optim.Newton([a, b])

    def closure():
        opt.zero_grad()
        d = a + b - 3
        loss = d * d
        loss.backward(create_graph=True)
        return loss

    opt.step(closure)
    np.testing.assert_allclose([a.item(), b.item()], [1.0, 2.0], atol=1e-12)


def test_conjugate_gradient_stops_on_negative_curvature():
    from optim.newton import conjugate_gradient
    A = np.diag([2.0, -1.0])
    x, iters = conjugate_gradient(lambda v: A @ v, np.array([0.0, 1.0]), 10, 1e-12)
    np.testing.assert_array_equal(x, [0.0, 1.0])  # falls back to the gradient direction
    assert iters == 1
    x, iters = conjugate_gradient(lambda v: np.diag([2.0, 4.0]) @ v, np.array([2.0, 4.0]), 10, 1e-12)
    np.testing.assert_allclose(x, [1.0, 1.0])


# ----------------------------------------------------------------------------
# L-BFGS
# ----------------------------------------------------------------------------

def test_lbfgs_strong_wolfe_reaches_the_rosenbrock_minimum():
    x = Tensor(np.array(-1.2), requires_grad=True)
    y = Tensor(np.array(1.0), requires_grad=True)
    opt = optim.LBFGS([x, y], line_search_fn="strong_wolfe", max_iter=200, tolerance_grad=1e-12,
                      tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        a, b = 1 - x, y - x * x
        loss = a * a + 100 * b * b
        loss.backward()
        return loss

    opt.step(closure)
    assert abs(x.item() - 1) < 1e-6 and abs(y.item() - 1) < 1e-6
    assert opt.state[x]["n_iter"] < 60


def test_lbfgs_needs_a_closure():
    opt = optim.LBFGS([Tensor(np.zeros(2), requires_grad=True)])
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step(None)


def test_lbfgs_stops_at_once_when_the_gradient_vanishes():
    p = Tensor(np.zeros(3), requires_grad=True)
    opt = optim.LBFGS([p])

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert opt.state[p]["func_evals"] == 1 and opt.state[p]["n_iter"] == 0
    np.testing.assert_array_equal(p.data, 0)


# -- against torch.optim.LBFGS ------------------------------------------------

T_TARGET = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
T_SCALE = np.array([[1.0, 3.0, 0.5], [2.0, 8.0, 1.0]])


def smooth_loss(w, xy, lib):
    """sum(scale*(w - target)^2) + sum(log(1 + exp(w))) + Rosenbrock(xy): the same formula in both libraries."""
    if lib == "engine":
        target, scale = Tensor(T_TARGET), Tensor(T_SCALE)
    else:
        import torch
        target, scale = torch.from_numpy(T_TARGET), torch.from_numpy(T_SCALE)
    d = w - target
    a, b = 1 - xy[0], xy[1] - xy[0] * xy[0]
    return (scale * d * d).sum() + (1 + w.exp()).log().sum() + a * a + 100 * b * b


LBFGS_VARIANTS = [
    dict(line_search_fn="strong_wolfe"),
    dict(line_search_fn="strong_wolfe", history_size=3, max_iter=7),
    dict(line_search_fn="strong_wolfe", max_eval=9, tolerance_grad=1e-5, tolerance_change=1e-7),
    dict(lr=0.01, history_size=10),
    dict(lr=0.005, max_iter=5, history_size=2),
]


@pytest.mark.parametrize("kw", LBFGS_VARIANTS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_lbfgs_matches_torch(kw):
    torch = pytest.importorskip("torch")
    w0, xy0 = np.zeros((2, 3)), np.array([-1.2, 1.0])
    w, xy = Tensor(w0.copy(), requires_grad=True), Tensor(xy0.copy(), requires_grad=True)
    tw, txy = torch.tensor(w0.copy(), requires_grad=True), torch.tensor(xy0.copy(), requires_grad=True)
    kw = {"history_size": 10, **kw}
    opt = optim.LBFGS([w, xy], **kw)
    topt = torch.optim.LBFGS([tw, txy], **kw)

    def closure():
        opt.zero_grad()
        loss = smooth_loss(w, xy, "engine")
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = smooth_loss(tw, txy, "torch")
        loss.backward()
        return loss

    for _ in range(4):
        loss = opt.step(closure)
        tloss = topt.step(tclosure)
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(xy.data, txy.detach().numpy(), rtol=1e-7, atol=1e-9)
    st, tst = opt.state[w], topt.state[tw]
    assert st["func_evals"] == tst["func_evals"] and st["n_iter"] == tst["n_iter"]
