"""The parameter layout of a nanoGPT-shaped GPT: every state-dict key and its shape.

stepgrad's `GPT`, nanoGPT's `GPT` and Hugging Face's GPT-2 (after transposing its
Conv1D weights and dropping the `transformer.` prefix it sometimes lacks) share it,
so one table checks all three before any model is built. `mask_bytes` is the memory
stepgrad's GPT needs beyond the parameters, which a file's sizes must be checked against
before a model is built from them.
"""
from math import prod

MAX_MASK_BYTES = 2**30  # what a GPT built from a file may spend on its causal masks


def mask_bytes(n_layer: int, block_size: int) -> int:
    """Bytes of the (block_size, block_size) float32 causal mask that each of stepgrad's GPT layers keeps."""
    return 4 * n_layer * block_size ** 2


def state_shapes(args: dict) -> dict[str, tuple[int, ...]]:
    """The keys of nanoGPT's ``GPT.state_dict()`` for ``model_args`` and their shapes, in its order."""
    return dict(iter_state_shapes(args))


def iter_state_shapes(args: dict):
    """``state_shapes(args)`` one ``(key, shape)`` pair at a time, so a check can stop at the first difference."""
    C, V = args["n_embd"], args["vocab_size"]
    yield "transformer.wte.weight", (V, C)
    yield "transformer.wpe.weight", (args["block_size"], C)
    for i in range(args["n_layer"]):
        yield from _block(f"transformer.h.{i}", C, args["bias"])
    yield from _norm("transformer.ln_f", C, args["bias"])
    yield "lm_head.weight", (V, C)


def num_parameters(args: dict) -> int:
    """How many numbers the GPT of ``model_args`` holds, the tied ``lm_head.weight`` counted once with ``wte``."""
    C, V = args["n_embd"], args["vocab_size"]
    block = sum(prod(shape) for _, shape in _block("h", C, args["bias"]))
    final = sum(prod(shape) for _, shape in _norm("ln_f", C, args["bias"]))
    return V * C + args["block_size"] * C + args["n_layer"] * block + final


def _block(h, C, bias):
    yield from _norm(f"{h}.ln_1", C, bias)
    yield from _linear(f"{h}.attn.c_attn", C, 3 * C, bias)
    yield from _linear(f"{h}.attn.c_proj", C, C, bias)
    yield from _norm(f"{h}.ln_2", C, bias)
    yield from _linear(f"{h}.mlp.c_fc", C, 4 * C, bias)
    yield from _linear(f"{h}.mlp.c_proj", 4 * C, C, bias)


def _linear(name, n_in, n_out, bias):
    yield f"{name}.weight", (n_out, n_in)
    if bias:
        yield f"{name}.bias", (n_out,)


def _norm(name, C, bias):
    yield f"{name}.weight", (C,)
    if bias:
        yield f"{name}.bias", (C,)
