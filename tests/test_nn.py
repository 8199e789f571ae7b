"""engine.nn: parameter registration and names, state dicts, modes, the standard layers
against numpy formulas and central differences, PyTorch-like initialisation, scopes."""
import math
import tracemalloc

import numpy as np
import pytest

from engine import Tensor, get_rng, gradcheck, manual_seed, nn
from engine.autograd import toposort

RNG = np.random.default_rng(2)


class Block(nn.Module):
    """A residual Linear-GELU block with dropout."""

    def __init__(self, dim):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return x + self.drop(self.act(self.fc(self.ln(x))))


class TinyLM(nn.Module):
    """Embedding, two blocks, a head tied to the embedding."""

    def __init__(self, vocab=7, dim=4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(2)])
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.emb.weight  # tied

    def forward(self, idx):
        x = self.emb(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


BLOCK_PARAMS = ["ln.weight", "ln.bias", "fc.weight", "fc.bias"]
EXPECTED_NAMES = ["emb.weight"] + [f"blocks.{i}.{n}" for i in range(2) for n in BLOCK_PARAMS]


# ----- names and registration ------------------------------------------------------
def test_dotted_parameter_names_and_tied_weights():
    model = TinyLM()
    assert [n for n, _ in model.named_parameters()] == EXPECTED_NAMES
    assert len(list(model.parameters())) == len(EXPECTED_NAMES)
    assert list(model.state_dict()) == EXPECTED_NAMES + ["head.weight"]
    assert model.state_dict()["head.weight"] is model.state_dict()["emb.weight"]
    assert model.num_parameters() == 7 * 4 + 2 * (4 + 4 + 16 + 4)


def test_named_modules_and_children():
    model = TinyLM()
    names = [n for n, _ in model.named_modules()]
    assert names[:3] == ["", "emb", "blocks"] and "blocks.1.drop" in names and names[-1] == "head"
    assert [type(m).__name__ for m in model.children()] == ["Embedding", "ModuleList", "Linear"]


def test_reassigning_an_attribute_unregisters_it():
    lin = nn.Linear(2, 3)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert [n for n, _ in nn.Linear(2, 3, bias=False).named_parameters()] == ["weight"]


def test_module_without_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2, np.float32))
    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Broken()


def test_sequential_and_module_list_containers():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq(Tensor(np.ones((5, 3), np.float32))).shape == (5, 2)
    ml = nn.ModuleList().append(nn.Tanh())
    assert len(ml) == 1 and isinstance(list(ml)[0], nn.Tanh)
    assert "(0): Linear(3, 4, bias=True)" in repr(seq)


def test_parameter_defaults():
    p = nn.Parameter(np.zeros(2, np.float32))
    assert p.requires_grad and p.is_leaf and repr(p).startswith("Parameter(")


# ----- state dicts --------------------------------------------------------------------
def test_state_dict_round_trip():
    manual_seed(0)
    src = TinyLM()
    saved = {k: v.copy() for k, v in src.state_dict().items()}
    manual_seed(1)
    dst = TinyLM()
    weights_before = [id(p) for p in dst.parameters()]
    dst.load_state_dict(saved)
    assert [id(p) for p in dst.parameters()] == weights_before  # copied in place
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, saved[k])
    idx = np.array([[1, 2, 3]])
    np.testing.assert_array_equal(dst.eval()(idx).data, src.eval()(idx).data)


def test_state_dict_accepts_tensors():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": Tensor(np.eye(2, dtype=np.float32)), "bias": np.zeros(2)})
    np.testing.assert_array_equal(lin.weight.data, np.eye(2))
    assert lin.bias.dtype == np.float32


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    lin = nn.Linear(2, 3)
    good = {k: v.copy() for k, v in lin.state_dict().items()}
    with pytest.raises(ValueError, match="missing keys: bias"):
        lin.load_state_dict({"weight": good["weight"]})
    with pytest.raises(ValueError, match="unexpected keys: extra"):
        lin.load_state_dict({**good, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"shape mismatch for weight: given \(2, 3\), model has \(3, 2\)"):
        lin.load_state_dict({**good, "weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="shape mismatch"):
        lin.load_state_dict({"weight": np.zeros((2, 3))}, strict=False)
    lin.load_state_dict({"weight": np.ones((3, 2)), "extra": 0}, strict=False)
    np.testing.assert_array_equal(lin.weight.data, np.ones((3, 2)))
    np.testing.assert_array_equal(lin.bias.data, good["bias"])


def test_failed_load_changes_nothing():
    lin = nn.Linear(2, 3)
    before = lin.weight.data.copy()
    with pytest.raises(ValueError):
        lin.load_state_dict({"weight": np.ones((3, 2)), "bias": np.ones(4)})
    np.testing.assert_array_equal(lin.weight.data, before)


# ----- modes and gradients ------------------------------------------------------------
def test_train_and_eval_switch_dropout_everywhere():
    model = TinyLM()
    idx = np.array([[0, 1, 2, 3, 4, 5]])
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    np.testing.assert_array_equal(model(idx).data, model(idx).data)
    model.train()
    assert all(m.training for m in model.modules())
    manual_seed(0)
    a = model(idx).data
    manual_seed(1)
    assert not np.array_equal(a, model(idx).data)


def test_zero_grad():
    lin = nn.Linear(2, 2)
    lin(Tensor(np.ones((1, 2), np.float32))).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert np.all(lin.weight.grad.data == 0)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_tied_weight_gets_the_sum_of_both_uses():
    model = TinyLM().eval()
    idx = np.array([[1, 2]])
    model(idx).sum().backward()
    assert model.emb.weight.grad is model.head.weight.grad
    tied = model.emb.weight.grad.data.copy()
    model.zero_grad()
    model.head.weight = nn.Parameter(model.emb.weight.data.copy())  # untied, same values
    model(idx).sum().backward()
    np.testing.assert_allclose(tied, model.emb.weight.grad.data + model.head.weight.grad.data, rtol=1e-5, atol=1e-6)


# ----- layers against numpy formulas ------------------------------------------------
def test_linear_matches_formula():
    lin = nn.Linear(3, 4)
    x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    y = lin(Tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-5, atol=1e-6)


def test_layer_norm_matches_formula():
    ln = nn.LayerNorm(6, eps=1e-3)
    ln.weight.data[:] = RNG.standard_normal(6)
    ln.bias.data[:] = RNG.standard_normal(6)
    x = RNG.standard_normal((3, 6)).astype(np.float32)
    xhat = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(ln(Tensor(x)).data, xhat * ln.weight.data + ln.bias.data, rtol=1e-5, atol=1e-5)
    assert [n for n, _ in nn.LayerNorm(6, bias=False).named_parameters()] == ["weight"]


def test_embedding_matches_indexing():
    emb = nn.Embedding(5, 3)
    idx = np.array([[4, 0], [4, 4]])
    np.testing.assert_array_equal(emb(idx).data, emb.weight.data[idx])
    np.testing.assert_array_equal(emb(Tensor(idx)).data, emb.weight.data[idx])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_activations_match_formulas(approximate):
    x = np.linspace(-4, 4, 17)
    if approximate == "none":
        expected = 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    else:
        expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.GELU(approximate)(Tensor(x)).data, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(nn.ReLU()(Tensor(x)).data, np.maximum(x, 0))
    np.testing.assert_allclose(nn.Tanh()(Tensor(x)).data, np.tanh(x))


def call_with(module, names, x, params):
    """module(x) with the parameters called `names` replaced by `params` (for gradcheck)."""
    owners = []
    for name, p in zip(names, params):
        *path, attr = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        owners.append((owner, attr, getattr(owner, attr)))
        object.__setattr__(owner, attr, p)
    try:
        return module(x)
    finally:
        for owner, attr, original in owners:
            object.__setattr__(owner, attr, original)


@pytest.mark.parametrize("make, x", [
    (lambda: nn.Linear(3, 2), RNG.standard_normal((4, 3))),
    (lambda: nn.LayerNorm(5), RNG.standard_normal((2, 5))),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 1)),
     RNG.standard_normal((3, 3))),
], ids=["linear", "layer_norm", "sequential"])
def test_layer_gradients_pass_gradcheck(make, x):
    module = make()
    names, params = zip(*module.named_parameters())
    assert gradcheck(lambda x, *ps: call_with(module, names, x, ps), [Tensor(x, requires_grad=True), *params])


def test_embedding_gradient_passes_gradcheck():
    emb = nn.Embedding(4, 3)
    idx = np.array([[3, 0, 3]])
    assert gradcheck(lambda w: call_with(emb, ["weight"], idx, [w]), [emb.weight])


# ----- initialisation -----------------------------------------------------------------
def test_default_initialisation_is_pytorch_like():
    manual_seed(0)
    lin = nn.Linear(256, 512)
    bound = 1 / math.sqrt(256)
    for p in (lin.weight, lin.bias):
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.95 * bound
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert abs(lin.weight.data.mean()) < 0.01 * bound
    emb = nn.Embedding(1000, 64)
    assert emb.weight.dtype == np.float32
    assert abs(emb.weight.data.mean()) < 0.01 and abs(emb.weight.data.std() - 1.0) < 0.01
    ln = nn.LayerNorm(8)
    np.testing.assert_array_equal(ln.weight.data, np.ones(8))
    np.testing.assert_array_equal(ln.bias.data, np.zeros(8))


def test_initialisation_follows_manual_seed():
    manual_seed(3)
    a = nn.Linear(4, 4).weight.data.copy()
    manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(4, 4).weight.data, a)


# ----- scopes ------------------------------------------------------------------------
def test_ops_are_tagged_with_the_running_module():
    model = TinyLM().eval()
    out = model(np.array([[1, 2]]))
    nodes = [t._ctx for t in toposort([out]) if t._ctx is not None]
    scopes = {(n.scope, n.op.name) for n in nodes}
    assert ("emb", "index") in scopes
    assert ("blocks.0.fc", "linear") in scopes and ("blocks.1.fc", "linear") in scopes
    assert ("blocks.0.ln", "layer_norm") in scopes and ("blocks.0.act", "gelu") in scopes
    assert ("blocks.0", "add") in scopes
    assert ("head", "linear") in scopes
    assert {s for s, _ in scopes} <= {"emb", "head", "blocks.0", "blocks.1"} | {
        f"blocks.{i}.{m}" for i in range(2) for m in ("ln", "fc", "act")}
    assert Tensor([1.0], requires_grad=True).exp().grad_fn.scope == ""


def test_scope_of_a_called_sequential_and_of_an_unregistered_module():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 2), nn.Tanh())

        def forward(self, x):
            return nn.ReLU()(self.body(x))  # made on the fly: its ops keep the caller's scope

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = Net()

        def forward(self, x):
            return self.net(x) * 2.0

    out = Outer()(Tensor(np.ones((1, 2), np.float32)))
    scopes = {(t._ctx.scope, t._ctx.op.name) for t in toposort([out]) if t._ctx is not None}
    assert scopes == {("", "mul"), ("net", "relu"), ("net.body.1", "tanh"), ("net.body.0", "linear")}


def test_linear_initialises_in_float32_without_a_float64_copy_of_its_weight():
    manual_seed(3)
    layer = nn.Linear(300, 200)
    manual_seed(3)
    bound = 1 / np.sqrt(300)
    weight = get_rng().uniform(-bound, bound, size=(200, 300)).astype(np.float32)  # the float64 way, same numbers
    assert layer.weight.dtype == np.float32 and np.array_equal(layer.weight.data, weight)
    tracemalloc.start()
    try:
        nn.Linear(2000, 2000, bias=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.1 * 2000 * 2000 * 4  # the float32 weight and one block; float64 then cast took 3x


# ----- forward hooks -----------------------------------------------------------------
def test_forward_hooks_see_module_inputs_and_output_and_come_off():
    model = TinyLM().eval()
    seen = []
    handle = model.blocks[0].act.register_forward_hook(
        lambda module, args, out: seen.append((module, args[0].shape, out.shape)))
    idx = np.array([[1, 2, 3]])
    model(idx)
    assert seen == [(model.blocks[0].act, (1, 3, 4), (1, 3, 4))]
    handle.remove()
    handle.remove()  # a second remove is harmless
    model(idx)
    assert len(seen) == 1


def test_a_hook_that_returns_a_value_replaces_the_output():
    layer = nn.Tanh()
    x = Tensor(np.array([-2.0, 0.5, 3.0], np.float32))
    handle = layer.register_forward_hook(lambda module, args, out: out * 2.0)
    np.testing.assert_allclose(layer(x).data, 2 * np.tanh(x.data), rtol=1e-6)
    layer.register_forward_hook(lambda module, args, out: None)  # None keeps the output as it is
    np.testing.assert_allclose(layer(x).data, 2 * np.tanh(x.data), rtol=1e-6)
    handle.remove()
    np.testing.assert_allclose(layer(x).data, np.tanh(x.data), rtol=1e-6)
