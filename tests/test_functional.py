"""engine.functional beyond the op table: stability at extreme scales, argument
checking, dropout's statistics, and the simple wrappers."""
import math

import numpy as np
import pytest

from engine import ShapeError, Tensor, grad, manual_seed
from engine import functional as F

RNG = np.random.default_rng(1)


# ----- stability --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_at_logits_of_1e4(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, -1e4]], dtype=dtype)
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, np.array([2, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, [2e4, math.log(2.0)], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1.0, 0.0, -1.0], [-0.5, 0.5, 0.0]], atol=1e-6)
    assert loss.dtype == dtype and x.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_stable_at_large_logits(dtype):
    x = Tensor(np.array([[1e4, 1e4 - 1.0, -1e4]], dtype=dtype), requires_grad=True)
    p = F.softmax(x)
    e = math.exp(-1.0)
    np.testing.assert_allclose(p.data, [[1 / (1 + e), e / (1 + e), 0.0]], rtol=1e-6)
    np.testing.assert_allclose(F.log_softmax(x).data, [[-math.log1p(e), -1 - math.log1p(e), -2e4 - math.log1p(e)]],
                               rtol=1e-6)
    np.testing.assert_allclose(F.logsumexp(x, -1).data, [1e4 + math.log1p(e)], rtol=1e-6)
    (g,) = grad(F.log_softmax(x).sum(), x)
    assert np.isfinite(g.data).all()


def test_masked_entries_get_zero_probability():
    x = Tensor(np.array([[-np.inf, 0.0, 0.0], [1.0, -np.inf, 1.0]]), requires_grad=True)
    p = F.softmax(x)
    np.testing.assert_allclose(p.data, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    (p * Tensor(RNG.standard_normal((2, 3)))).sum().backward()
    assert np.isfinite(x.grad.data).all() and x.grad.data[0, 0] == 0.0


def test_logsumexp_of_only_minus_infinity_is_minus_infinity():
    assert F.logsumexp(Tensor([-np.inf, -np.inf])).item() == -np.inf


def test_sigmoid_saturates_without_overflow():
    with np.errstate(over="raise"):
        y = Tensor(np.array([-1e4, 1e4], np.float32)).sigmoid()
    np.testing.assert_array_equal(y.data, [0.0, 1.0])


# ----- argument checking ----------------------------------------------------------
def test_cross_entropy_argument_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="target 3 is out of range for 3 classes"):
        F.cross_entropy(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, np.array([-1, 0]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="unknown reduction"):
        F.cross_entropy(x, np.array([0, 1]), reduction="avg")
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))


def test_cross_entropy_mean_over_kept_targets_only():
    x = Tensor(RNG.standard_normal((4, 3)))
    t = np.array([0, -100, 2, -100])
    full = F.cross_entropy(x, t, reduction="none").data
    assert full[1] == 0.0 and full[3] == 0.0
    np.testing.assert_allclose(F.cross_entropy(x, t).data, full.sum() / 2)


def test_mse_loss_reductions():
    a, b = Tensor([1.0, 2.0, 4.0]), Tensor([1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.mse_loss(a, b, "none").data, [0.0, 4.0, 9.0])
    assert F.mse_loss(a, b, "sum").item() == 13.0
    np.testing.assert_allclose(F.mse_loss(a, b).item(), 13.0 / 3, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown reduction"):
        F.mse_loss(a, b, "avg")


def test_gelu_and_layer_norm_argument_errors():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(Tensor([1.0]), approximate="fast")
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        F.layer_norm(Tensor(np.zeros((2, 3))), 4)


def test_attention_shape_errors():
    q = Tensor(np.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError, match="do not fit"):
        F.scaled_dot_product_attention(q, Tensor(np.zeros((1, 1, 3, 5))), q)


# ----- float32 accuracy of the fused kernels ---------------------------------------
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_is_accurate_over_a_wide_range(approximate):
    x = np.linspace(-10, 10, 2001)
    exact = F.gelu(Tensor(x), approximate).data
    fast = F.gelu(Tensor(x.astype(np.float32)), approximate)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast.data, exact, atol=2e-6, rtol=1e-5)


def test_layer_norm_output_is_normalised():
    x = Tensor(RNG.standard_normal((5, 16)).astype(np.float32) * 30 + 7)
    y = F.layer_norm(x, 16).data
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-3)


# ----- dropout ----------------------------------------------------------------------
def test_dropout_statistics_and_gradient():
    manual_seed(0)
    x = Tensor(np.ones(100_000, np.float32), requires_grad=True)
    y = F.dropout(x, 0.3, training=True)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, y.data)


def test_dropout_is_reproducible_under_manual_seed():
    x = Tensor(np.ones(50))
    manual_seed(5)
    a = F.dropout(x, 0.5).data
    manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, 0.5).data, a)


def test_dropout_identity_cases_and_limits():
    x = Tensor(np.ones(4, np.float32), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x
    assert F.dropout(x, 1.0, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, training=True).data, np.zeros(4))
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="p must be in"):
            F.dropout(x, p)


def test_attention_dropout_only_in_training():
    q = Tensor(RNG.standard_normal((1, 2, 4, 3)))
    plain = F.scaled_dot_product_attention(q, q, q).data
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, training=False).data, plain)
    manual_seed(0)
    dropped = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5, training=True).data
    assert not np.allclose(dropped, plain)


# ----- wrappers ---------------------------------------------------------------------
def test_simple_wrappers():
    x = Tensor([-1.0, 0.5])
    np.testing.assert_array_equal(F.relu(x).data, [0.0, 0.5])
    np.testing.assert_allclose(F.tanh(x).data, np.tanh([-1.0, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(F.sigmoid(x).data, 1 / (1 + np.exp([1.0, -0.5])), rtol=1e-6)


def test_linear_without_bias_and_embedding_shapes():
    x, w = Tensor(RNG.standard_normal((2, 5, 3))), Tensor(RNG.standard_normal((4, 3)))
    np.testing.assert_allclose(F.linear(x, w).data, x.data @ w.data.T)
    e = F.embedding(np.array([[0, 3, 3]]), w)
    assert e.shape == (1, 3, 3)
    with pytest.raises(IndexError):
        F.embedding(Tensor([4]), w)
