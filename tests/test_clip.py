"""clip_grad_norm_: the global-norm clipping of torch.nn.utils.clip_grad_norm_."""
import math

import numpy as np
import pytest

import optim
from engine import Tensor


def params_with_grads(grads, dtype=np.float64):
    params = []
    for g in grads:
        p = Tensor(np.zeros(np.shape(g), dtype=dtype), requires_grad=True)
        p.grad = None if g is None else Tensor(np.array(g, dtype=dtype))
        params.append(p)
    return params


def test_clips_to_max_norm_and_returns_the_norm_before():
    params = params_with_grads([[3.0, 0.0], [[0.0], [4.0]], None])
    total = optim.clip_grad_norm_(params, max_norm=1.0)
    assert isinstance(total, float) and total == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad.data, [3 * coef, 0.0])
    np.testing.assert_allclose(params[1].grad.data, [[0.0], [4 * coef]])
    assert params[2].grad is None


def test_small_gradients_are_left_alone():
    params = params_with_grads([[0.3, 0.4]])
    assert optim.clip_grad_norm_(params, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.data, [0.3, 0.4])


def test_other_norms_single_tensor_and_no_grads():
    params = params_with_grads([[1.0, -7.0], [2.0]])
    assert optim.clip_grad_norm_(params, max_norm=100.0, norm_type=math.inf) == 7.0
    assert optim.clip_grad_norm_(params, max_norm=100.0, norm_type=1) == pytest.approx(10.0)
    p = params_with_grads([[6.0, 8.0]])[0]
    assert optim.clip_grad_norm_(p, 5.0) == pytest.approx(10.0)
    np.testing.assert_allclose(p.grad.data, [3.0, 4.0], rtol=1e-6)
    assert optim.clip_grad_norm_(params_with_grads([None]), 1.0) == 0.0


def test_float32_gradients_stay_float32():
    params = params_with_grads([[30.0, 40.0]], dtype=np.float32)
    optim.clip_grad_norm_(params, 1.0)
    assert params[0].grad.data.dtype == np.float32
    np.testing.assert_allclose(params[0].grad.data, [0.6, 0.8], rtol=1e-5)


def test_nonfinite_total_norm():
    params = params_with_grads([[np.inf, 1.0]])
    with pytest.raises(RuntimeError, match="total norm"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert math.isinf(optim.clip_grad_norm_(params_with_grads([[np.inf, 1.0]]), 1.0))


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(4, 3)), rng.normal(size=(5,)), None, rng.normal(size=(2, 2, 2))]
    params = params_with_grads(grads)
    tparams = []
    for g in grads:
        tp = torch.zeros(np.shape(g) if g is not None else (1,), dtype=torch.float64, requires_grad=True)
        tp.grad = None if g is None else torch.tensor(g)
        tparams.append(tp)
    total = optim.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert total == pytest.approx(ttotal.item(), rel=1e-12)
    for p, tp in zip(params, tparams):
        if p.grad is not None:
            np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_huge_float32_gradients_have_a_finite_norm_and_are_scaled_not_zeroed(norm_type):
    params = params_with_grads([[3e20, -4e20], [1e30]], dtype=np.float32)
    total = optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type)
    in_float64 = np.linalg.norm([np.linalg.norm([3e20, -4e20], norm_type), 1e30], norm_type)
    assert math.isfinite(total) and total == pytest.approx(in_float64, rel=1e-6)
    assert params[1].grad.data[0] == pytest.approx(1e30 / in_float64, rel=1e-5)
    assert params[0].grad.data[1] < 0 and np.all(params[0].grad.data != 0)


@pytest.mark.parametrize("max_norm", [-1.0, float("nan")])
def test_a_negative_or_nan_max_norm_is_refused(max_norm):
    params = params_with_grads([[3.0, 4.0]])
    with pytest.raises(ValueError, match="max_norm must be a number >= 0"):
        optim.clip_grad_norm_(params, max_norm)
    np.testing.assert_array_equal(params[0].grad.data, [3.0, 4.0])
