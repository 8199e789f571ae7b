"""``stepgrad sample --pretrained DIR``: sample from a local Hugging Face GPT-2, token ids or text."""

from __future__ import annotations

import numpy as np

from models.hf_gpt2 import PretrainedError


def parse_ids(text: str, vocab_size: int) -> np.ndarray:
    """Token ids from ``"15496 11"`` (spaces or commas) as an int64 array (n,), each below ``vocab_size``."""
    parts = text.replace(",", " ").split()
    if not parts or not all(p.isdigit() for p in parts):
        raise PretrainedError(f"--ids {text!r} must be whole numbers separated by spaces, e.g. '15496 11'")
    ids = np.array([int(p) for p in parts], dtype=np.int64)
    if ids.max() >= vocab_size:
        raise PretrainedError(f"--ids: token id {int(ids.max())} is out of range for a vocabulary of {vocab_size}")
    return ids


def main_sample_pretrained(args) -> int:
    """Sample ``args.tokens`` tokens from the GPT-2 in ``args.pretrained``; print ids (``--ids``) or text."""
    from models.bpe import load_bpe
    from models.gpt import GPT

    if (args.ids is None) == (args.prompt is None):
        raise PretrainedError("--pretrained needs exactly one of --ids (token ids) or --prompt (text)")
    tokenizer = load_bpe(args.pretrained) if args.prompt is not None else None
    model = GPT.from_pretrained(args.pretrained)
    V = model.config.vocab_size
    ids = parse_ids(args.ids, V) if tokenizer is None else tokenizer.encode(args.prompt)  # (T,)
    if len(ids) == 0:
        raise PretrainedError("--prompt is empty after tokenization")
    if ids.max() >= V:
        raise PretrainedError(f"the tokenizer gives id {int(ids.max())}, beyond the model's vocabulary of {V}")
    out = model.generate(ids[None, :], args.tokens, temperature=args.temperature, top_k=args.top_k,
                         rng=args.seed)  # (1, T + tokens)
    print(" ".join(map(str, out[0].tolist())) if tokenizer is None else tokenizer.decode(out[0]))
    return 0
