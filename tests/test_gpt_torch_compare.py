"""models.GPT against a PyTorch GPT with nanoGPT's architecture: same weights in, same
logits, loss and parameter gradients out (float64 to 1e-8, float32 loosely)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine import manual_seed  # noqa: E402
from models import GPT, GPTConfig  # noqa: E402
from torch_gpt import TorchGPT, copy_weights  # noqa: E402

SMALL = dict(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=16)


def run_both(cfg, dtype, flash=True, batch=3, seed=0):
    """Logits, loss and {name: grad} from our GPT and from the torch copy of it."""
    manual_seed(seed)
    ours = GPT(cfg)
    rng = np.random.default_rng(seed)
    for p in ours.parameters():                                       # away from the init's symmetries
        p.data = (p.data + rng.normal(0, 0.1, p.shape)).astype(dtype)
    theirs = copy_weights(ours, TorchGPT(cfg, flash=flash))
    idx = rng.integers(0, cfg.vocab_size, size=(batch, cfg.block_size))
    targets = rng.integers(0, cfg.vocab_size, size=(batch, cfg.block_size))

    logits, loss = ours(idx, targets)
    loss.backward()
    ours_grads = {n: p.grad.data for n, p in ours.named_parameters()}
    t_logits, t_loss = theirs(torch.from_numpy(idx), torch.from_numpy(targets))
    t_loss.backward()
    their_grads = {n: p.grad.numpy() for n, p in theirs.named_parameters()}
    return (logits.data, loss.item(), ours_grads), (t_logits.detach().numpy(), t_loss.item(), their_grads)


def test_same_parameter_names_and_shapes():
    cfg = GPTConfig(**SMALL, bias=True)
    ours = GPT(cfg).state_dict()
    theirs = dict(TorchGPT(cfg).named_parameters(remove_duplicate=False))
    assert list(ours) == list(theirs)
    assert all(ours[n].shape == tuple(p.shape) for n, p in theirs.items())


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("flash", [True, False])
def test_float64_logits_loss_and_gradients_match(bias, flash):
    (logits, loss, grads), (t_logits, t_loss, t_grads) = run_both(GPTConfig(**SMALL, bias=bias), np.float64, flash)
    assert logits.dtype == np.float64
    np.testing.assert_allclose(logits, t_logits, rtol=0, atol=1e-8)
    assert loss == pytest.approx(t_loss, abs=1e-10)
    assert list(grads) == list(t_grads)
    for name, g in grads.items():
        np.testing.assert_allclose(g, t_grads[name], rtol=0, atol=1e-8, err_msg=name)


def test_float32_default_recipe_matches():
    (logits, loss, grads), (t_logits, t_loss, t_grads) = run_both(GPTConfig(vocab_size=65), np.float32, batch=4)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, t_logits, rtol=1e-4, atol=1e-4)
    assert loss == pytest.approx(t_loss, rel=1e-5)
    for name, g in grads.items():
        assert g.dtype == np.float32, name
        scale = np.abs(t_grads[name]).max()
        np.testing.assert_allclose(g, t_grads[name], rtol=0, atol=1e-4 * scale, err_msg=name)
