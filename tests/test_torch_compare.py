"""The engine against PyTorch (optional: skipped without torch), in float64: every op
case of the table (values, gradients, Hessian-vector products), the functional losses
and norms at awkward scales, and the nn layers given the same weights."""
import numpy as np
import pytest

from engine import Tensor, grad, nn
from engine import functional as F
from op_cases import CASES

torch = pytest.importorskip("torch")
TF = torch.nn.functional
TORCH_CASES = [c for c in CASES if c.torch is not None]


def to_torch(arrays):
    """float64 torch leaves holding copies of `arrays`."""
    return [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]


def assert_close(engine_value, torch_value, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(np.asarray(engine_value), torch_value.detach().numpy(), rtol=rtol, atol=atol)


def test_most_cases_have_a_torch_form():
    assert len(TORCH_CASES) >= len(CASES) - 2


@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_case_matches_torch(case):
    xs, ts = case.inputs(), to_torch(case.arrays())
    out, tout = case.fn(*xs), case.torch(torch, *ts)
    assert out.shape == tuple(tout.shape)
    assert_close(out.data, tout)
    w = case.weights(out.shape)
    gs = grad((out * Tensor(w)).sum(), xs)
    tgs = torch.autograd.grad((tout * torch.tensor(w)).sum(), ts)
    for g, tg in zip(gs, tgs):
        assert_close(g.data, tg)


@pytest.mark.parametrize("case", [c for c in TORCH_CASES if c.second_order], ids=str)
def test_case_hessian_vector_product_matches_torch(case):
    xs, ts = case.inputs(), to_torch(case.arrays())
    out, tout = case.fn(*xs), case.torch(torch, *ts)
    w = case.weights(out.shape)
    rng = np.random.default_rng(3)
    vs = [rng.standard_normal(x.shape) for x in xs]
    gs = grad((out * out * Tensor(w)).sum(), xs, create_graph=True)
    hvs = grad(sum((g * Tensor(v)).sum() for g, v in zip(gs, vs)), xs, allow_unused=True)
    tgs = torch.autograd.grad((tout * tout * torch.tensor(w)).sum(), ts, create_graph=True)
    tgv = sum((g * torch.tensor(v)).sum() for g, v in zip(tgs, vs))
    thvs = torch.autograd.grad(tgv, ts, allow_unused=True) if tgv.requires_grad else [None] * len(ts)
    for hv, thv, x in zip(hvs, thvs, xs):
        expected = torch.zeros(x.shape, dtype=torch.float64) if thv is None else thv
        assert_close(np.zeros(x.shape) if hv is None else hv.data, expected, rtol=1e-8, atol=1e-10)


# ----- functional at awkward scales -------------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch_at_large_logits(scale, reduction):
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 5)) * scale
    targets = np.array([0, 4, -100, 2, 2, 1])
    x, (tx,) = Tensor(logits, requires_grad=True), to_torch([logits])
    loss = F.cross_entropy(x, targets, reduction=reduction)
    tloss = TF.cross_entropy(tx, torch.as_tensor(targets), reduction=reduction)
    assert_close(loss.data, tloss, rtol=1e-12)
    w = rng.standard_normal(loss.shape)
    (loss * Tensor(w)).sum().backward()
    (tloss * torch.tensor(w)).sum().backward()
    assert_close(x.grad.data, tx.grad)


def test_cross_entropy_float32_at_1e4_matches_torch():
    logits = (np.random.default_rng(5).standard_normal((4, 7)) * 1e4).astype(np.float32)
    x, tx = Tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    loss, tloss = F.cross_entropy(x, np.array([1, 2, 3, 4])), TF.cross_entropy(tx, torch.tensor([1, 2, 3, 4]))
    loss.backward()
    tloss.backward()
    assert loss.dtype == np.float32
    assert_close(loss.data, tloss, rtol=1e-6)
    assert_close(x.grad.data, tx.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch_over_a_wide_range(approximate):
    xs = np.linspace(-12, 12, 481)
    x, (tx,) = Tensor(xs, requires_grad=True), to_torch([xs])
    y, ty = F.gelu(x, approximate), TF.gelu(tx, approximate=approximate)
    assert_close(y.data, ty, atol=1e-15)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad.data, tx.grad, atol=1e-14)


@pytest.mark.parametrize("shape, normalized", [((3, 8), (8,)), ((2, 3, 4), (3, 4))])
def test_layer_norm_matches_torch_on_offset_data(shape, normalized):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(shape) * 50 + 1e3, rng.standard_normal(normalized), rng.standard_normal(normalized)]
    xs, ts = [Tensor(a, requires_grad=True) for a in arrays], to_torch(arrays)
    y, ty = F.layer_norm(*xs[:1], normalized, *xs[1:]), TF.layer_norm(ts[0], normalized, *ts[1:])
    assert_close(y.data, ty, rtol=1e-8, atol=1e-10)
    w = rng.standard_normal(shape)
    for g, tg in zip(grad((y * Tensor(w)).sum(), xs), torch.autograd.grad((ty * torch.tensor(w)).sum(), ts)):
        assert_close(g.data, tg, rtol=1e-7, atol=1e-10)


# ----- nn layers given the same weights -------------------------------------------
def copy_weights(module, torch_module):
    """Give `module` the float64 weights of `torch_module` (same names, same layouts)."""
    module.load_state_dict({k: v.detach().numpy() for k, v in torch_module.state_dict().items()})


def float64(module):
    """The module with float64 parameters, for exact comparisons."""
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


@pytest.mark.parametrize("make, make_torch", [
    (lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3)),
    (lambda: nn.LayerNorm(5), lambda: torch.nn.LayerNorm(5)),
    (lambda: nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 8), nn.Tanh(), nn.LayerNorm(8),
                           nn.ReLU(), nn.Linear(8, 2)),
     lambda: torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.GELU(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                                 torch.nn.LayerNorm(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))),
], ids=["linear", "layer_norm", "mlp"])
def test_layer_matches_torch(make, make_torch):
    torch.manual_seed(0)
    tm = make_torch().double()
    with torch.no_grad():
        for p in tm.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # LayerNorm starts at ones/zeros: move it off the trivial point
    m = float64(make())
    copy_weights(m, tm)
    x = np.random.default_rng(7).standard_normal((4, 5))
    tx = torch.tensor(x, requires_grad=True)
    ex = Tensor(x, requires_grad=True)
    y, ty = m(ex), tm(tx)
    assert_close(y.data, ty, rtol=1e-10)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    assert_close(ex.grad.data, tx.grad, rtol=1e-9)
    for name, p in m.named_parameters():
        assert_close(p.grad.data, dict(tm.named_parameters())[name].grad, rtol=1e-9)


def test_embedding_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.Embedding(6, 3).double()
    m = float64(nn.Embedding(6, 3))
    copy_weights(m, tm)
    idx = np.array([[5, 0, 5], [1, 5, 2]])
    y, ty = m(idx), tm(torch.as_tensor(idx))
    assert_close(y.data, ty)
    w = np.random.default_rng(8).standard_normal(y.shape)
    (y * Tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(m.weight.grad.data, tm.weight.grad)


def test_cross_entropy_with_every_target_ignored_behaves_like_torch():
    x, tx = Tensor(np.zeros((2, 3)), requires_grad=True), torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    with np.errstate(invalid="ignore"):
        loss = F.cross_entropy(x, np.array([-100, -100]))
    tloss = TF.cross_entropy(tx, torch.tensor([-100, -100]))
    assert np.isnan(loss.item()) and torch.isnan(tloss)
    loss.backward()
    tloss.backward()
    assert_close(x.grad.data, tx.grad)
