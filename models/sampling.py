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


class SamplingError(ValueError):
    """The model's predictions cannot be sampled from (they are not finite numbers); one-line message."""


def sample_next(logits, temperature=1.0, top_k=None, rng=None):
    """Draw one token per row of `logits` (B, V); returns an int64 array (B,).

    The logits are divided by `temperature` (0 means greedy: the argmax) and, with
    `top_k`, everything below the k-th largest logit of a row is excluded
    (`top_k=1` is greedy too; ties at the k-th value are all kept, as in nanoGPT).
    Logits that are NaN or +inf, or a row that is all -inf (a model whose numbers
    overflowed), raise SamplingError rather than give a token that means nothing;
    -inf alone is a token of probability 0.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    logits = np.asarray(logits, dtype=np.float64)                     # (B, V)
    if np.isnan(logits).any() or np.isposinf(logits).any() or (logits == -np.inf).all(axis=-1).any():
        raise SamplingError("the model's predictions are not numbers it can sample from (NaN, +inf, or all "
                            "-inf): its weights overflow")
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    n_vocab = logits.shape[-1]
    if top_k is not None and top_k < n_vocab:
        kth = np.partition(logits, n_vocab - top_k, axis=-1)[:, n_vocab - top_k:n_vocab - top_k + 1]  # (B, 1)
        logits = np.where(logits < kth, -np.inf, logits)              # (B, V)
    with np.errstate(over="ignore"):  # a tiny temperature sends the rest to -inf: probability 0, as meant
        scaled = (logits - logits.max(axis=-1, keepdims=True)) / float(temperature)  # (B, V), <= 0
    probs = np.exp(scaled)                                            # (B, V), unnormalised, max 1
    cdf = np.cumsum(probs, axis=-1)                                   # (B, V)
    u = make_rng(rng).random((len(cdf), 1)) * cdf[:, -1:]             # (B, 1), uniform in [0, total)
    nxt = (cdf <= u).sum(axis=-1)                                     # (B,) first index with cdf > u
    return np.minimum(nxt, n_vocab - 1).astype(np.int64)


def generate_tokens(model, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
    """Yield `max_new_tokens` sampled tokens after the prompts `idx` (B, T), one int64 array (B,) at a time.

    Each token costs the same however long the text grows: the model sees only
    the last `model.context_size` tokens, kept in a window of that size (the
    tokens already yielded are not kept). The model runs without recording a
    graph and in eval mode (dropout off) while the generator runs; its previous
    mode is restored when it ends or is closed.
    """
    idx = as_tokens(idx)                                              # (B, T)
    if idx.shape[1] == 0:
        raise ValueError("generate needs a prompt of at least one token")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    rng = make_rng(rng)
    context = model.context_size
    window = idx[:, -context:].copy()                                 # (B, <= context)
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            with no_grad():
                logits, _ = model(window)                             # (B, t, V)
            nxt = sample_next(logits.data[:, -1, :], temperature, top_k, rng)  # (B,)
            yield nxt
            if window.shape[1] < context:
                window = np.concatenate([window, nxt[:, None]], axis=1)  # (B, t + 1), until the window is full
            else:
                window[:, :-1] = window[:, 1:]                        # (B, context): drop the oldest token
                window[:, -1] = nxt
    finally:
        model.train(was_training)


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
    """Extend the prompts `idx` (B, T) by `max_new_tokens` sampled tokens; returns (B, T + new).

    The tokens come from `generate_tokens` (see there: the model sees at most its
    last `model.context_size` tokens, without a graph, in eval mode).
    """
    idx = as_tokens(idx)                                              # (B, T)
    out = np.empty((idx.shape[0], idx.shape[1] + max(max_new_tokens, 0)), dtype=np.int64)  # (B, T + new)
    out[:, :idx.shape[1]] = idx
    for i, nxt in enumerate(generate_tokens(model, idx, max_new_tokens, temperature, top_k, rng)):
        out[:, idx.shape[1] + i] = nxt
    return out
