"""The models: linear regression, and the Bigram, MLP and GPT character-level language models."""
import math

import numpy as np
import pytest

from engine import Tensor, manual_seed, no_grad
from models import (GPT, MLP, MODELS, Bigram, BigramConfig, GPTConfig, LinearRegression, MLPConfig, build_model,
                    least_squares, make_data)
from models.sampling import sample_next
from optim import AdamW

VOCAB = 7
TINY = {  # small configurations of every language model, for fast tests
    "bigram": BigramConfig(vocab_size=VOCAB),
    "mlp": MLPConfig(vocab_size=VOCAB, block_size=3, n_embd=4, n_hidden=16),
    "gpt": GPTConfig(vocab_size=VOCAB, block_size=8, n_layer=2, n_head=2, n_embd=16),
}


def make_lm(name, seed=0, **changes):
    """A fresh tiny model `name` (config fields overridden by `changes`), seeded."""
    manual_seed(seed)
    cfg = TINY[name]
    return build_model(name, type(cfg)(**{**cfg.__dict__, **changes}))


def to_float64(model):
    """Convert every parameter of `model` to float64 in place (tied ones once)."""
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model


def perturb(model, scale=0.5, seed=0):
    """Add noise to every parameter (breaks the ties of a fresh init); returns the model."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data += rng.normal(0, scale, p.shape).astype(p.dtype)
    return model


def tokens(shape, seed=0, vocab=VOCAB):
    """Random token ids of `shape`."""
    return np.random.default_rng(seed).integers(0, vocab, size=shape)


# ----------------------------------------------------------------- linear regression

def test_linreg_parameters_start_at_zero():
    model = LinearRegression()
    params = dict(model.named_parameters())
    assert list(params) == ["theta0", "theta1"]
    for p in params.values():
        assert p.shape == () and p.dtype == np.float32 and p.item() == 0.0 and p.requires_grad


def test_linreg_forward_is_theta0_plus_theta1_x():
    model = LinearRegression()
    model.theta0.data[...] = 1.5
    model.theta1.data[...] = -2.0
    x = np.array([0.0, 1.0, 2.5], dtype=np.float32)
    y = model(x)
    np.testing.assert_allclose(y.data, 1.5 - 2.0 * x)
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose([model.theta0.grad.item(), model.theta1.grad.item()], [3.0, x.sum()])


def test_make_data_is_the_seed_example():
    x, y = make_data(100, seed=3)
    assert x.shape == y.shape == (100,) and x.dtype == y.dtype == np.float32
    assert x.min() >= 0 and x.max() < 1
    noise = y - (2 * x + 1)
    assert noise.min() >= 0 and noise.max() < 1
    np.testing.assert_array_equal(make_data(100, seed=3)[1], y)
    assert not np.array_equal(make_data(100, seed=4)[1], y)


def test_least_squares_matches_numpy():
    x, y = make_data(100, seed=0)
    theta0, theta1 = least_squares(x, y)
    slope, intercept = np.polyfit(x.astype(np.float64), y.astype(np.float64), 1)
    assert theta0 == pytest.approx(intercept, abs=1e-9) and theta1 == pytest.approx(slope, abs=1e-9)
    assert abs(theta0 - 1.5) < 0.2 and abs(theta1 - 2.0) < 0.3


def test_linreg_gradient_descent_approaches_least_squares():
    x, y = make_data(100, seed=0)
    model = LinearRegression()
    opt = AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    for _ in range(1000):
        opt.zero_grad()
        d = model(x) - Tensor(y)
        (d * d).mean().backward()
        opt.step()
    np.testing.assert_allclose([model.theta0.item(), model.theta1.item()], least_squares(x, y), atol=2e-3)


# ----------------------------------------------------------------- every language model

@pytest.mark.parametrize("name", list(TINY))
def test_lm_shapes_and_loss(name):
    model = make_lm(name)
    idx, targets = tokens((3, 5)), tokens((3, 5), seed=1)
    logits, loss = model(idx)
    assert logits.shape == (3, 5, VOCAB) and logits.dtype == np.float32 and loss is None
    logits2, loss = model(Tensor(idx), Tensor(targets))
    np.testing.assert_array_equal(logits2.data, logits.data)
    assert loss.shape == () and loss.dtype == np.float32
    flat = logits.data.reshape(15, VOCAB)
    logp = flat - np.log(np.exp(flat).sum(1, keepdims=True))
    assert loss.item() == pytest.approx(-logp[np.arange(15), targets.reshape(-1)].mean(), rel=1e-5)


@pytest.mark.parametrize("name", list(TINY))
def test_lm_initial_loss_is_near_uniform(name):
    model = make_lm(name, vocab_size=65)
    _, loss = model(tokens((4, 8), vocab=65), tokens((4, 8), seed=1, vocab=65))
    assert abs(loss.item() - math.log(65)) < 0.1


@pytest.mark.parametrize("name", list(TINY))
def test_lm_learns_a_tiny_corpus(name):
    text = np.array([0, 1, 2, 3, 4, 5, 6, 2, 4, 6] * 40)
    model = make_lm(name)
    opt = AdamW(model.configure_optimizer_groups(0.01), lr=3e-2)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(40):
        starts = rng.integers(0, len(text) - 9, size=8)
        batch = np.stack([text[s:s + 9] for s in starts])             # (8, 9)
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * losses[0]


@pytest.mark.parametrize("name", list(TINY))
def test_lm_predictions_do_not_look_ahead(name):
    """Position t's logits depend only on tokens <= t (and, for the MLP, > t - block_size)."""
    model = make_lm(name)
    idx = tokens((2, 8))
    logits, _ = model(idx)
    for t in range(8):
        alone, _ = model(idx[:, :t + 1])
        np.testing.assert_allclose(alone.data[:, t], logits.data[:, t], rtol=1e-5, atol=1e-6)


def test_generate_is_reproducible_and_has_the_right_shape():
    for name in TINY:
        model = make_lm(name)
        prompt = tokens((2, 3))
        a = model.generate(prompt, 12, rng=np.random.default_rng(5))
        b = model.generate(prompt, 12, rng=5)
        c = model.generate(prompt, 12, rng=6)
        assert a.shape == (2, 15) and a.dtype == np.int64 and ((0 <= a) & (a < VOCAB)).all()
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a[:, :3], prompt)
        assert not np.array_equal(a, c)
        manual_seed(9)
        d = model.generate(prompt, 12)
        manual_seed(9)
        np.testing.assert_array_equal(model.generate(prompt, 12), d)


def test_generate_crops_the_context_to_block_size():
    model = make_lm("gpt")                                            # block_size 8
    out = model.generate(tokens((1, 6)), 20, rng=0)                   # grows far past 8 tokens
    assert out.shape == (1, 26)
    with pytest.raises(ValueError, match="block_size"):
        model(tokens((1, 9)))


@pytest.mark.parametrize("name", list(TINY))
def test_top_k_one_and_temperature_zero_are_greedy(name):
    model = perturb(make_lm(name))
    prompt = tokens((2, 2))
    greedy = prompt
    with no_grad():
        for _ in range(6):
            logits, _ = model(greedy[:, -model.context_size:])
            greedy = np.concatenate([greedy, logits.data[:, -1].argmax(-1)[:, None]], axis=1)
    np.testing.assert_array_equal(model.generate(prompt, 6, top_k=1, rng=0), greedy)
    np.testing.assert_array_equal(model.generate(prompt, 6, top_k=1, rng=1), greedy)
    np.testing.assert_array_equal(model.generate(prompt, 6, temperature=0.0), greedy)


def test_sample_next_follows_temperature_and_top_k():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4]]))                 # probabilities (0.1, 0.2, 0.3, 0.4)
    rng = np.random.default_rng(0)
    draws = np.array([sample_next(logits, rng=rng)[0] for _ in range(4000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 4000, [0.1, 0.2, 0.3, 0.4], atol=0.03)
    draws = np.array([sample_next(logits, top_k=2, rng=rng)[0] for _ in range(2000)])
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 2000, [0, 0, 3 / 7, 4 / 7], atol=0.04)
    cold = np.array([sample_next(logits, temperature=0.05, rng=rng)[0] for _ in range(200)])
    assert (cold == 3).mean() > 0.95
    zero = np.array([[0.0, -np.inf, 0.0]])                            # a zero-probability token is never drawn
    assert 1 not in [sample_next(zero, rng=rng)[0] for _ in range(500)]
    with pytest.raises(ValueError):
        sample_next(logits, temperature=-1.0)
    with pytest.raises(ValueError):
        sample_next(logits, top_k=0)


def test_generate_runs_in_eval_mode_and_restores_training():
    model = make_lm("gpt", dropout=0.5)
    prompt = tokens((1, 3))
    assert model.training
    a = model.generate(prompt, 8, top_k=1, rng=0)
    assert model.training
    np.testing.assert_array_equal(model.generate(prompt, 8, top_k=1, rng=1), a)   # no dropout noise
    model.eval()
    model.generate(prompt, 2, rng=0)
    assert not model.training


@pytest.mark.parametrize("name", list(TINY))
def test_optimizer_groups_decay_matrices_only(name):
    model = make_lm(name)
    groups = model.configure_optimizer_groups(0.1)
    assert [g["weight_decay"] for g in groups] == ([0.1] if name == "bigram" else [0.1, 0.0])
    assert all(p.ndim >= 2 for _, p in groups[0]["params"])
    assert all(p.ndim < 2 for g in groups[1:] for _, p in g["params"])
    assert sorted(n for g in groups for n, _ in g["params"]) == sorted(n for n, _ in model.named_parameters())


def test_registry_builds_models_from_config_dicts():
    assert set(MODELS) == {"bigram", "mlp", "gpt"}
    model = build_model("gpt", {"vocab_size": 5, "n_layer": 1, "n_embd": 8, "n_head": 2, "block_size": 4})
    assert isinstance(model, GPT) and model.config == GPTConfig(5, 4, 1, 2, 8)
    assert MODELS["mlp"].config_fields() == ["vocab_size", "block_size", "n_embd", "n_hidden", "pad_id"]
    with pytest.raises(ValueError, match="unknown model"):
        build_model("rnn", {"vocab_size": 5})
    with pytest.raises(ValueError, match="n_layers"):
        build_model("gpt", {"vocab_size": 5, "n_layers": 2})


# ----------------------------------------------------------------- Bigram and MLP specifics

def test_bigram_logits_are_rows_of_its_table():
    model = Bigram(BigramConfig(VOCAB))
    assert [n for n, _ in model.named_parameters()] == ["table"]
    assert not model.table.data.any()                                 # uniform predictions at first
    model.table.data[...] = np.arange(VOCAB * VOCAB).reshape(VOCAB, VOCAB)
    idx = tokens((2, 4))
    logits, _ = model(idx)
    np.testing.assert_array_equal(logits.data, model.table.data[idx])
    assert model.context_size == 1


def test_mlp_sees_block_size_tokens_padded_with_a_dedicated_token():
    model = make_lm("mlp")                                            # block_size 3
    assert [n for n, _ in model.named_parameters()] == [
        "wte.weight", "hidden.weight", "hidden.bias", "lm_head.weight", "lm_head.bias"]
    assert model.wte.weight.shape == (VOCAB + 1, 4) and model.pad_id == VOCAB
    idx = tokens((1, 6))
    logits, _ = model(idx)
    changed = idx.copy()
    changed[0, 1] = (changed[0, 1] + 1) % VOCAB
    after, _ = model(changed)
    np.testing.assert_array_equal(after.data[0, 4:], logits.data[0, 4:])  # token 1 is out of reach of t >= 4
    assert not np.allclose(after.data[0, 1:4], logits.data[0, 1:4])
    # the first position sees two pad tokens and token 0
    emb = model.wte.weight.data[[VOCAB, VOCAB, idx[0, 0]]].reshape(-1)
    h = np.tanh(model.hidden.weight.data @ emb + model.hidden.bias.data)
    np.testing.assert_allclose(logits.data[0, 0], model.lm_head.weight.data @ h + model.lm_head.bias.data,
                               rtol=1e-5, atol=1e-6)


def test_mlp_reads_contexts_as_the_windows_of_a_text():
    model = make_lm("mlp")                                            # block_size 3, its own pad token
    idx = tokens((2, 5))
    padded = np.concatenate([np.full((2, 2), model.pad_id), idx], axis=1)  # (2, 7)
    contexts = np.stack([padded[:, t:t + 3] for t in range(5)], axis=1)    # (2, 5, 3)
    np.testing.assert_array_equal(model.contexts(idx), contexts)
    np.testing.assert_array_equal(model(contexts)[0].data, model(idx)[0].data)
    with pytest.raises(ValueError, match=r"shape \(B, T, 3\)"):
        model(contexts[:, :, :2])


def test_mlp_pads_with_the_given_token_and_has_no_row_of_its_own_then():
    model = build_model("mlp", MLPConfig(vocab_size=VOCAB, block_size=3, n_embd=4, n_hidden=8, pad_id=0))
    assert model.wte.weight.shape == (VOCAB, 4) and model.pad_id == 0
    idx = tokens((1, 4))
    np.testing.assert_array_equal(model.contexts(idx)[0, 0], [0, 0, idx[0, 0]])
    with pytest.raises(ValueError, match="pad_id"):
        MLP(MLPConfig(vocab_size=VOCAB, pad_id=VOCAB))


# ----------------------------------------------------------------- GPT specifics

def gpt_param_names(n_layer, bias):
    """nanoGPT's parameter names, lm_head included (state_dict order)."""
    names = ["transformer.wte.weight", "transformer.wpe.weight"]
    suffixes = ["weight", "bias"] if bias else ["weight"]
    for i in range(n_layer):
        for mod in ["ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"]:
            names += [f"transformer.h.{i}.{mod}.{s}" for s in suffixes]
    names += [f"transformer.ln_f.{s}" for s in suffixes]
    return names + ["lm_head.weight"]


@pytest.mark.parametrize("bias", [False, True])
def test_gpt_parameter_names_and_tied_head(bias):
    model = make_lm("gpt", bias=bias)
    assert list(model.state_dict()) == gpt_param_names(2, bias)
    assert model.lm_head.weight is model.transformer.wte.weight
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and names == gpt_param_names(2, bias)[:-1]


@pytest.mark.parametrize("bias", [False, True])
def test_gpt_parameter_count(bias):
    cfg = GPTConfig(vocab_size=11, block_size=6, n_layer=3, n_head=2, n_embd=8, bias=bias)
    model = GPT(cfg)
    V, T, L, C = 11, 6, 3, 8
    per_layer = 12 * C * C + 2 * C + (11 * C if bias else 0)           # matrices, LayerNorm weights, biases
    total = V * C + T * C + L * per_layer + C + (C if bias else 0)
    assert model.num_parameters() == total
    assert model.get_num_params() == total - T * C
    assert model.get_num_params(non_embedding=False) == total
    assert GPT(GPTConfig(vocab_size=65)).get_num_params() == 795_904  # the CPU recipe: 0.80M


def test_gpt_initialisation_is_nanogpts_and_seeded():
    cfg = GPTConfig(vocab_size=65, n_layer=4, bias=True)
    manual_seed(0)
    model = GPT(cfg)
    sd = model.state_dict()
    for name, w in sd.items():
        assert w.dtype == np.float32
        if name.endswith("c_proj.weight"):
            assert w.std() == pytest.approx(0.02 / math.sqrt(8), rel=0.05)
        elif w.ndim == 2:
            assert w.std() == pytest.approx(0.02, rel=0.05) and abs(w.mean()) < 2e-3
        elif ".ln_" in name and name.endswith("weight"):
            assert (w == 1).all()
        else:
            assert (w == 0).all(), name
    manual_seed(0)
    again = GPT(cfg).state_dict()
    assert all(np.array_equal(again[k], v) for k, v in sd.items())
    manual_seed(1)
    assert not np.array_equal(GPT(cfg).state_dict()["transformer.wte.weight"], sd["transformer.wte.weight"])


def test_gpt_gradients_match_finite_differences():
    """Central differences in float64 through the whole model, for every parameter element."""
    manual_seed(0)
    model = to_float64(GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=2, n_embd=8, bias=True)))
    perturb(model, 0.3)                                               # break the symmetries of the init
    idx, targets = tokens((2, 4), vocab=5), tokens((2, 4), seed=1, vocab=5)
    _, loss = model(idx, targets)
    loss.backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        flat, grad = p.data.reshape(-1), p.grad.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = model(idx, targets)[1].item()
            flat[j] = orig - eps
            down = model(idx, targets)[1].item()
            flat[j] = orig
            assert grad[j] == pytest.approx((up - down) / (2 * eps), abs=1e-7, rel=1e-5), f"{name}[{j}]"


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_gpt_fused_and_explicit_attention_agree(dropout):
    model = to_float64(make_lm("gpt", dropout=dropout, bias=True))
    idx, targets = tokens((3, 8)), tokens((3, 8), seed=1)
    results = []
    for flash in (True, False):
        for block in model.transformer.h:
            block.attn.flash = flash
        model.zero_grad()
        manual_seed(42)                                               # same dropout masks
        logits, loss = model(idx, targets)
        loss.backward()
        results.append((logits.data, [p.grad.data for p in model.parameters()]))
    (la, ga), (lb, gb) = results
    np.testing.assert_allclose(la, lb, rtol=1e-12, atol=1e-12)
    for a, b in zip(ga, gb):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gpt_dropout_is_off_in_eval_mode():
    model = make_lm("gpt", dropout=0.5)
    idx = tokens((2, 8))
    manual_seed(1)
    a, _ = model(idx)
    manual_seed(2)
    b, _ = model(idx)
    assert not np.allclose(a.data, b.data)
    model.eval()
    np.testing.assert_array_equal(model(idx)[0].data, model(idx)[0].data)


def test_gpt_records_ops_under_full_module_names():
    model = make_lm("gpt")
    _, loss = model(tokens((1, 4)), tokens((1, 4), seed=1))
    scopes, stack, seen = set(), [loss], set()
    while stack:
        t = stack.pop()
        if t._ctx is None or id(t) in seen:
            continue
        seen.add(id(t))
        scopes.add(t._ctx.scope)
        stack.extend(t._ctx.parents)
    assert {"transformer.wte", "transformer.h.0.attn.c_attn", "transformer.h.1.mlp.gelu", "lm_head"} <= scopes
