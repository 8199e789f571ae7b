"""Sampling text from a character-level language model: temperature, top-k and the
generate loop shared by Bigram, MLP and GPT.

Randomness comes from a numpy Generator (`rng`), so a seed gives the same text
every time; without one, the engine's generator is used (see `engine.manual_seed`).
"""
import numpy as np

from engine import Tensor, get_rng, no_grad


def as_tokens(idx):
    """Token ids (a Tensor, an ndarray or nested lists) as an int64 array of shape (B, T)."""
    arr = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"token ids must have shape (B, T), got shape {arr.shape}")
    return arr.astype(np.int64, copy=False)


def make_rng(rng):
    """A numpy Generator from `rng`: a Generator, an int seed, or None (the engine's generator)."""
    if rng is None:
        return get_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    """Draw one token per row of `logits` (B, V); returns an int64 array (B,).

    The logits are divided by `temperature` (0 means greedy: the argmax) and, with
    `top_k`, everything below the k-th largest logit of a row is excluded
    (`top_k=1` is greedy too; ties at the k-th value are all kept, as in nanoGPT).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    logits = np.asarray(logits, dtype=np.float64)                     # (B, V)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    n_vocab = logits.shape[-1]
    if top_k is not None and top_k < n_vocab:
        kth = np.partition(logits, n_vocab - top_k, axis=-1)[:, n_vocab - top_k:n_vocab - top_k + 1]  # (B, 1)
        logits = np.where(logits < kth, -np.inf, logits)              # (B, V)
    scaled = logits / float(temperature)                              # (B, V)
    probs = np.exp(scaled - scaled.max(axis=-1, keepdims=True))       # (B, V), unnormalised
    cdf = np.cumsum(probs, axis=-1)                                   # (B, V)
    u = make_rng(rng).random((len(cdf), 1)) * cdf[:, -1:]             # (B, 1), uniform in [0, total)
    nxt = (cdf <= u).sum(axis=-1)                                     # (B,) first index with cdf > u
    return np.minimum(nxt, n_vocab - 1).astype(np.int64)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
    """Extend the prompts `idx` (B, T) by `max_new_tokens` sampled tokens; returns (B, T + new).

    The model sees at most its last `model.context_size` tokens and runs without
    recording a graph, in eval mode (dropout off; its previous mode is restored).
    """
    idx = as_tokens(idx)                                              # (B, T)
    if idx.shape[1] == 0:
        raise ValueError("generate needs a prompt of at least one token")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    rng = make_rng(rng)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            for _ in range(max_new_tokens):
                idx_cond = idx[:, -model.context_size:]               # (B, <= context)
                logits, _ = model(idx_cond)                           # (B, t, V)
                nxt = sample_next(logits.data[:, -1, :], temperature, top_k, rng)  # (B,)
                idx = np.concatenate([idx, nxt[:, None]], axis=1)     # (B, T + 1)
    finally:
        model.train(was_training)
    return idx
