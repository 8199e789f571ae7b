"""The parameter layout of a nanoGPT-shaped GPT: every state-dict key and its shape.

stepgrad's `GPT`, nanoGPT's `GPT` and Hugging Face's GPT-2 (after transposing its
Conv1D weights and dropping the `transformer.` prefix it sometimes lacks) share it,
so one table checks all three before any model is built. `mask_bytes` is the memory
stepgrad's GPT needs beyond the parameters, which a file's sizes must be checked against
before a model is built from them.
"""

MAX_MASK_BYTES = 2**30  # what a GPT built from a file may spend on its causal masks


def mask_bytes(n_layer: int, block_size: int) -> int:
    """Bytes of the (block_size, block_size) float32 causal mask that each of stepgrad's GPT layers keeps."""
    return 4 * n_layer * block_size ** 2


def state_shapes(args: dict) -> dict[str, tuple[int, ...]]:
    """The keys of nanoGPT's ``GPT.state_dict()`` for ``model_args`` and their shapes, in its order."""
    C, V, bias = args["n_embd"], args["vocab_size"], args["bias"]

    def linear(name, n_in, n_out):
        return {f"{name}.weight": (n_out, n_in), **({f"{name}.bias": (n_out,)} if bias else {})}

    def norm(name):
        return {f"{name}.weight": (C,), **({f"{name}.bias": (C,)} if bias else {})}

    shapes = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (args["block_size"], C)}
    for i in range(args["n_layer"]):
        h = f"transformer.h.{i}"
        shapes.update(norm(f"{h}.ln_1"))
        shapes.update(linear(f"{h}.attn.c_attn", C, 3 * C))
        shapes.update(linear(f"{h}.attn.c_proj", C, C))
        shapes.update(norm(f"{h}.ln_2"))
        shapes.update(linear(f"{h}.mlp.c_fc", C, 4 * C))
        shapes.update(linear(f"{h}.mlp.c_proj", 4 * C, C))
    shapes.update(norm("transformer.ln_f"))
    shapes["lm_head.weight"] = (V, C)
    return shapes
