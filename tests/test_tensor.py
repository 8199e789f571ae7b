"""The Tensor class itself: construction and dtypes, attributes, Python-number
arithmetic, comparisons, in-place updates, indexing errors and the factories."""
import numpy as np
import pytest

from engine import (Tensor, arange, get_rng_state, manual_seed, no_grad, ones, ones_like, rand, randn,
                    set_rng_state, tensor, zeros, zeros_like)


# ----- construction ---------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1, 2.5]], np.float32),
    (3, np.int64), ([1, 2], np.int64), (True, np.bool_),
    (np.zeros(2, np.float64), np.float64), (np.zeros(2, np.float16), np.float16), (np.arange(3), np.int64),
])
def test_constructor_dtypes(data, dtype):
    assert Tensor(data).dtype == dtype


def test_explicit_dtype_and_copy_semantics():
    a = np.ones(3, np.float64)
    assert Tensor([1, 2], dtype="float32").dtype == np.float32
    assert Tensor(a, dtype=np.float32).dtype == np.float32
    t = Tensor(a)
    assert t.numpy() is t.data
    assert Tensor(t).dtype == np.float64
    assert tensor([1.0], requires_grad=True).requires_grad


def test_attributes():
    t = Tensor(np.zeros((2, 3, 4)))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3, 4), 3, 24, 2)
    assert t.T.shape == (4, 3, 2)
    assert Tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_data_and_grad_are_settable():
    t = Tensor([1.0, 2.0], requires_grad=True)
    t.data = np.array([5.0, 6.0], np.float32)
    t.grad = Tensor([1.0, 1.0])
    (t * 2.0).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [3.0, 3.0])


def test_item():
    assert Tensor([[2.5]]).item() == 2.5
    assert isinstance(Tensor(np.array(3)).item(), int)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_repr_shows_graph_and_dtype():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == "Tensor([1., 2.], requires_grad=True)"
    assert "grad_fn=<mul>" in repr(x * 2.0)
    assert "dtype=int64" in repr(Tensor([1, 2]))


def test_detach_shares_data_without_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    y = x.detach()
    assert y.data is x.data


def test_leaf_and_grad_fn():
    x = Tensor([1.0], requires_grad=True)
    y = x.exp()
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.grad_fn.op.name == "exp" and y.grad_fn.parents == (x,)


# ----- arithmetic with Python numbers and arrays ----------------------------------
@pytest.mark.parametrize("fn", [
    lambda x: x + 1, lambda x: 1 + x, lambda x: x - 0.5, lambda x: 0.5 - x, lambda x: x * 2.5,
    lambda x: 2.5 * x, lambda x: x / 3, lambda x: 3 / x, lambda x: x ** 2, lambda x: x ** 0.5,
    lambda x: 2.0 ** x, lambda x: x * np.float64(2.0), lambda x: -x, lambda x: +x,
])
def test_python_numbers_keep_float32(fn):
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = fn(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_int_tensors_stay_integer_with_ints():
    i = Tensor([1, 2])
    assert (i + 1).dtype == np.int64 and (i * 2).dtype == np.int64 and (-i).dtype == np.int64


def test_ndarray_on_the_left_keeps_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], np.float32) * x
    assert isinstance(y, Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_comparisons_give_boolean_constants():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2, x > Tensor([0.0, 5.0, 1.0])):
        assert r.dtype == np.bool_ and not r.requires_grad
    np.testing.assert_array_equal((x >= 2).data, [False, True, True])
    assert bool(Tensor(True)) and not bool(Tensor(0.0))


def test_argmax_is_an_integer_constant():
    x = Tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    assert x.argmax().item() == 2 and not x.argmax().requires_grad


def test_cast_to_integer_is_not_differentiable():
    x = Tensor([1.5, 2.5], requires_grad=True)
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(i.data, [1, 2])


def test_cast_between_floats_is_differentiable():
    x = Tensor([1.5, 2.5], requires_grad=True)
    y = x.astype("float64")
    assert y.dtype == np.float64 and y.requires_grad and y.grad_fn.op.name == "cast"


# ----- in place ---------------------------------------------------------------------
def test_in_place_updates_under_no_grad():
    w = Tensor([1.0, 2.0], requires_grad=True)
    data = w.data
    with no_grad():
        w -= 0.5
        w *= 2.0
        w += Tensor([1.0, 1.0])
        w /= 2.0
    assert w.data is data and w.dtype == np.float32 and w._version == 4
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    with no_grad():
        w.zero_()
    np.testing.assert_array_equal(w.data, [0.0, 0.0])


def test_zero_clears_nan_and_inf_too():
    w = Tensor([np.nan, np.inf, -np.inf, 2.0], requires_grad=True)
    with no_grad():
        assert w.zero_() is w
    np.testing.assert_array_equal(w.data, [0.0, 0.0, 0.0, 0.0])
    assert w._version == 1
    with pytest.raises(RuntimeError, match="in-place operation"):
        w.zero_()  # recording a graph: refused, like the other in-place ops


def test_in_place_on_plain_tensors_needs_no_no_grad():
    t = Tensor([1.0, 2.0])
    t += 1.0
    np.testing.assert_array_equal(t.data, [2.0, 3.0])


def test_requires_grad_switch():
    x = Tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not (x * 2.0).requires_grad


# ----- indexing ---------------------------------------------------------------------
def test_index_with_float_array_or_unsupported_object_is_refused():
    x = Tensor([1.0, 2.0])
    with pytest.raises(IndexError, match="integers or booleans"):
        x[np.array([0.5])]
    with pytest.raises(IndexError, match="unsupported index"):
        x["a"]
    with pytest.raises(IndexError, match="unsupported index"):
        x[1.0]


def test_index_with_tensor_mask_and_tensor_indices():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    np.testing.assert_array_equal(x[x > 0].data, [1.0, 3.0])
    y = x[Tensor([2, 2])]
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 2.0])


# ----- factories --------------------------------------------------------------------
def test_factories():
    assert zeros(2, 3).shape == (2, 3) and zeros(2, 3).dtype == np.float32
    assert ones((2,), dtype=np.float64).dtype == np.float64
    assert zeros(2, requires_grad=True).requires_grad
    assert randn(3, 4).dtype == np.float32 and rand(5).dtype == np.float32
    assert 0.0 <= rand(100).data.min() and rand(100).data.max() < 1.0
    assert arange(4).dtype == np.int64 and arange(0.0, 1.0, 0.5).tolist() == [0.0, 0.5]
    t = Tensor(np.ones((2, 2), np.float64))
    assert zeros_like(t).dtype == np.float64 and ones_like(t).data.sum() == 4


def test_manual_seed_and_rng_state_reproduce_draws():
    manual_seed(123)
    a = randn(5).data
    manual_seed(123)
    np.testing.assert_array_equal(randn(5).data, a)
    saved = get_rng_state()
    b = rand(4).data
    set_rng_state(saved)
    np.testing.assert_array_equal(rand(4).data, b)
