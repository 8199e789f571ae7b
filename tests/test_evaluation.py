"""The validation loss of a run: sampled batches, or every target of the split once (models.evaluation)."""

import numpy as np
import pytest

from engine import functional as F
from engine import manual_seed, no_grad
from models import GPT, MLP, Bigram, BigramConfig, GPTConfig, MLPConfig
from models.data import CharDataset
from models.evaluation import full_val_loss, sampled_val_loss
from models.train import make_config

TEXT = "".join(f"{w} " for w in ("to be or not to be that is the question whether tis nobler in the mind "
                                 "to suffer the slings and arrows of outrageous fortune").split() * 30)


@pytest.fixture
def dataset():
    return CharDataset(TEXT)


def log_probs(logits):
    """log softmax over the last axis, in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_full_loss_of_a_bigram_is_the_mean_over_every_val_pair(dataset):
    manual_seed(0)
    model = Bigram(BigramConfig(dataset.tokenizer.vocab_size))
    model.table.data[...] = np.random.default_rng(0).normal(size=model.table.shape)
    expected = -log_probs(model.table.data)[dataset.val[:-1], dataset.val[1:]].mean()
    config = make_config("bigram", block_size=7)
    assert full_val_loss(model, dataset, config) == pytest.approx(expected, rel=1e-6)


def test_full_loss_of_a_gpt_is_the_mean_over_non_overlapping_windows(dataset):
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=dataset.tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=16))
    total, count = 0.0, 0
    with no_grad():
        for start in range(0, len(dataset.val) - 1, 16):              # one window at a time, the last one shorter
            x = dataset.val[start:start + 16][None]
            y = dataset.val[start + 1:start + 17][None]
            x = x[:, :y.shape[1]]
            total += -log_probs(model(x)[0].data)[0, np.arange(y.shape[1]), y[0]].sum()
            count += y.shape[1]
    config = make_config("gpt", block_size=16, n_layer=1, n_head=2, n_embd=16)
    assert count == len(dataset.val) - 1
    assert full_val_loss(model, dataset, config) == pytest.approx(total / count, rel=1e-5)


def test_full_loss_of_an_mlp_scores_every_val_character_from_its_context(dataset):
    manual_seed(0)
    model = MLP(MLPConfig(vocab_size=dataset.tokenizer.vocab_size, block_size=5, n_embd=4, n_hidden=8))
    positions = np.arange(dataset.n_train, len(dataset.ids))
    contexts = dataset.ids[positions[:, None] - 5 + np.arange(5)]     # the real characters before each
    with no_grad():
        logits = model(contexts[None])[0].data[0]                     # (N, V)
    expected = -log_probs(logits)[np.arange(len(positions)), dataset.ids[positions]].mean()
    config = make_config("mlp", block_size=5, n_embd=4, n_hidden=8)
    assert full_val_loss(model, dataset, config) == pytest.approx(expected, rel=1e-5)


def test_both_kinds_are_deterministic_and_restore_the_mode(dataset):
    manual_seed(0)
    model = GPT(GPTConfig(vocab_size=dataset.tokenizer.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8,
                          dropout=0.5))
    config = make_config("gpt", block_size=8, n_layer=1, n_head=2, n_embd=8, dropout=0.5, batch_size=4,
                         eval_iters=3)
    for score in (sampled_val_loss, full_val_loss):
        assert score(model, dataset, config) == score(model, dataset, config)
        assert model.training
    model.eval()
    full_val_loss(model, dataset, config)
    assert not model.training


def test_sampled_loss_is_the_mean_over_eval_iters_seeded_batches(dataset):
    manual_seed(0)
    model = Bigram(BigramConfig(dataset.tokenizer.vocab_size))
    model.table.data[...] = np.random.default_rng(1).normal(size=model.table.shape)
    config = make_config("bigram", block_size=8, batch_size=3, eval_iters=4, seed=5)
    rng = np.random.default_rng([5, 2])
    losses = []
    for _ in range(4):
        x, y = dataset.get_batch("val", 3, 8, rng)
        losses.append(F.cross_entropy(model(x)[0].reshape(24, -1), y.reshape(24)).item())
    assert sampled_val_loss(model, dataset, config) == pytest.approx(np.mean(losses), rel=1e-6)
