"""nanoGPT's checkpoint format, as far as stepgrad writes and reads it.

nanoGPT (Karpathy) saves a training run as ``out_dir/ckpt.pt``, a ``torch.save``
dict with ``model`` (the state dict of its ``GPT``), ``model_args`` (the keyword
arguments of its ``GPTConfig``), ``optimizer`` (AdamW's state dict), ``iter_num``,
``best_val_loss`` and ``config`` (the training settings, among them ``dataset``).
A character-level dataset keeps its vocabulary in ``data/<dataset>/meta.pkl``, a
pickled dict ``{'vocab_size': V, 'itos': {id: char}, 'stoi': {char: id}}``.

stepgrad's GPT has nanoGPT's parameter names and layouts (``nn.Linear`` weights
are (out, in) in both), so the model state maps key for key. nanoGPT's attention
registers its causal-mask buffer ``attn.bias`` only when PyTorch lacks
``scaled_dot_product_attention`` (before 2.0), so the state dicts that nanoGPT
writes and loads today have no mask; export writes none and import drops one.
"""

from __future__ import annotations

from models.checkpoint import CheckpointError
from models.gpt import GPTConfig
from models.tokenizer import CharTokenizer, TokenizerError

#: nanoGPT's GPTConfig fields, in the order train.py builds ``model_args``
MODEL_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout")
CKPT_NAME = "ckpt.pt"
META_NAME = "meta.pkl"
COMPILED_PREFIX = "_orig_mod."  # torch.compile's wrapper prefix, which sample.py strips
TORCH_HINT = "pip install 'stepgrad[torch]' (PyTorch 2.6 or newer)"
MIN_TORCH = (2, 6)  # torch.load(weights_only=True) is the default from 2.6 on


class NanoGPTError(CheckpointError):
    """A nanoGPT checkpoint that cannot be written or read; the message is one line."""


def require_torch(action: str):
    """Import and return ``torch``, or raise ``NanoGPTError`` saying what to install for ``action``."""
    try:
        import torch
    except ImportError:
        raise NanoGPTError(f"{action} needs PyTorch, which is not installed: {TORCH_HINT}") from None
    version = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
    if version < MIN_TORCH:
        raise NanoGPTError(f"{action} needs PyTorch 2.6 or newer, this is {torch.__version__}: {TORCH_HINT}")
    return torch


def model_args_for(config: GPTConfig) -> dict:
    """nanoGPT's ``model_args`` for a stepgrad ``GPTConfig`` (exactly nanoGPT's fields)."""
    if config.gelu_approximate != "none":
        raise NanoGPTError(f"nanoGPT's GPT uses the exact GELU; this model uses the "
                           f"{config.gelu_approximate!r} approximation")
    return {name: getattr(config, name) for name in MODEL_ARGS}


def config_from_model_args(args, where: str) -> GPTConfig:
    """A stepgrad ``GPTConfig`` from nanoGPT's ``model_args``, checking every field's type and range."""
    if not isinstance(args, dict):
        raise NanoGPTError(f"{where}: model_args is a {type(args).__name__}, not a dict")
    missing = [name for name in MODEL_ARGS if name not in args]
    unknown = sorted(str(name) for name in args if name not in MODEL_ARGS)
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unknown {', '.join(unknown)}"] if unknown else [])
        raise NanoGPTError(f"{where}: model_args are not nanoGPT's GPTConfig fields ({'; '.join(parts)})")
    for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
        value = args[name]
        if type(value) is not int or value < 1:
            raise NanoGPTError(f"{where}: model_args {name} must be a positive integer, not {value!r}")
    if type(args["bias"]) is not bool:
        raise NanoGPTError(f"{where}: model_args bias must be True or False, not {args['bias']!r}")
    dropout = args["dropout"]
    if type(dropout) not in (int, float) or not 0 <= dropout < 1:
        raise NanoGPTError(f"{where}: model_args dropout must be a number in [0, 1), not {dropout!r}")
    if args["n_embd"] % args["n_head"]:
        raise NanoGPTError(f"{where}: n_embd {args['n_embd']} is not a multiple of n_head {args['n_head']}")
    return GPTConfig(vocab_size=args["vocab_size"], block_size=args["block_size"], n_layer=args["n_layer"],
                     n_head=args["n_head"], n_embd=args["n_embd"], dropout=float(dropout), bias=args["bias"])


def meta_for(tokenizer: CharTokenizer) -> dict:
    """The ``meta.pkl`` dict of a character tokenizer, as nanoGPT's ``prepare.py`` writes it."""
    chars = tokenizer.chars
    return {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}


def tokenizer_from_meta(meta, vocab_size: int, where: str) -> CharTokenizer:
    """The ``CharTokenizer`` of a ``meta.pkl`` dict, checked against the model's ``vocab_size``.

    ``itos`` must map every id 0..V-1 to one distinct character and ``stoi`` be its inverse.
    """
    if not isinstance(meta, dict) or not {"vocab_size", "itos", "stoi"} <= set(meta):
        raise NanoGPTError(f"{where} is not a nanoGPT meta.pkl (a dict with vocab_size, itos and stoi)")
    if meta["vocab_size"] != vocab_size:
        raise NanoGPTError(f"{where} describes a vocabulary of {meta['vocab_size']!r} tokens, "
                           f"the model has {vocab_size}")
    itos, stoi = meta["itos"], meta["stoi"]
    if not isinstance(itos, dict) or sorted(k for k in itos if type(k) is int) != list(range(vocab_size)) \
            or len(itos) != vocab_size:
        raise NanoGPTError(f"{where}: itos does not map the ids 0..{vocab_size - 1} to characters")
    chars = [itos[i] for i in range(vocab_size)]
    if not all(isinstance(c, str) and len(c) == 1 for c in chars):
        raise NanoGPTError(f"{where}: itos holds entries that are not single characters "
                           "(stepgrad imports character-level models only)")
    if stoi != {c: i for i, c in enumerate(chars)}:
        raise NanoGPTError(f"{where}: stoi is not the inverse of itos")
    try:
        return CharTokenizer("".join(chars))
    except TokenizerError as error:
        raise NanoGPTError(f"{where}: {error}") from None
