"""``stepgrad import``: a nanoGPT ``ckpt.pt`` of a character-level model as a stepgrad checkpoint.

Nothing in either file can run code: ``ckpt.pt`` is read by
``torch.load(weights_only=True, mmap=True)`` (tensors and plain containers only;
tensor storage is mapped from the file, so memory is bounded by its size) and
``meta.pkl`` by ``models.safe_pickle`` (plain data only). Before a stepgrad model
is built, ``model_args`` are checked field by field, the state dict's key set and
every tensor's shape against what those arguments imply, the vocabulary against
the embedding, and the tied ``lm_head`` against ``wte``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from models.checkpoint import save_checkpoint
from models.gpt import GPT
from models.gpt_layout import MAX_MASK_BYTES, mask_bytes, state_shapes
from models.nanogpt_format import (COMPILED_PREFIX, META_NAME, NanoGPTError, config_from_model_args,
                                   require_torch, tokenizer_from_meta)
from models.safe_pickle import UnsafePickleError, load_plain_pickle
from models.tokenizer import CharTokenizer

GPT2_VOCABS = (50257, 50304)  # GPT-2's BPE vocabulary and nanoGPT's padded size of it
_MASK_KEY = re.compile(r"transformer\.h\.(\d+)\.attn\.bias")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def read_nanogpt(ckpt: str | os.PathLike, meta: str | os.PathLike | None = None
                 ) -> tuple[GPT, CharTokenizer, dict]:
    """The stepgrad GPT, tokenizer and a description of nanoGPT checkpoint ``ckpt``.

    ``meta`` is the ``meta.pkl`` with the vocabulary (default: found as nanoGPT's
    ``sample.py`` finds it, through ``config['dataset']``; see ``find_meta``).
    Raises ``NanoGPTError`` (one line) for a missing, truncated or foreign file.
    """
    torch = require_torch("importing a nanoGPT checkpoint")
    ckpt = Path(ckpt)
    checkpoint = _load(torch, ckpt)
    config = config_from_model_args(checkpoint.get("model_args"), str(ckpt))
    args = {name: getattr(config, name) for name in ("n_layer", "n_embd", "block_size", "bias", "vocab_size")}
    state = _state_dict(checkpoint.get("model"), ckpt)
    _check_keys_and_shapes(state, args, ckpt)
    masks = mask_bytes(config.n_layer, config.block_size)
    if masks > MAX_MASK_BYTES:
        raise NanoGPTError(f"{ckpt}: block_size {config.block_size} with {config.n_layer} layers needs "
                           f"{masks / 2**30:.1f} GiB of causal masks in stepgrad (limit 1 GiB)")
    meta_path = Path(meta) if meta is not None else find_meta(ckpt, checkpoint)
    if meta_path is None:
        raise NanoGPTError(_no_meta_message(ckpt, checkpoint, config.vocab_size))
    tokenizer = tokenizer_from_meta(_load_meta(meta_path), config.vocab_size, str(meta_path))
    if not torch.equal(state["lm_head.weight"], state["transformer.wte.weight"]):
        raise NanoGPTError(f"{ckpt}: lm_head.weight is not tied to transformer.wte.weight, as nanoGPT's GPT ties it")
    model = GPT(config)
    model.load_state_dict({k: v.detach().to(torch.float32).numpy() for k, v in state.items()})
    info = {"format": "nanogpt", "checkpoint": str(ckpt), "meta": str(meta_path)}
    for key, kind in (("iter_num", int), ("best_val_loss", float)):
        value = checkpoint.get(key)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            info[key] = kind(value)
    return model, tokenizer, info


def import_nanogpt(ckpt: str | os.PathLike, out: str | os.PathLike,
                   meta: str | os.PathLike | None = None) -> tuple[GPT, CharTokenizer, dict]:
    """Read nanoGPT checkpoint ``ckpt`` (see ``read_nanogpt``) and save it as stepgrad checkpoint ``out``.

    ``out`` is written atomically and only after every check has passed; it works
    with ``stepgrad sample``, ``graph --checkpoint`` and ``train --init-from``.
    """
    out = Path(out)
    if out.is_dir():
        raise NanoGPTError(f"output {out} is a directory; give a file name such as model.safetensors")
    model, tokenizer, info = read_nanogpt(ckpt, meta)
    tensors = {f"model.{name}": np.ascontiguousarray(array) for name, array in model.state_dict().items()}
    save_checkpoint(out, tensors, {"kind": "gpt", "model_config": dataclasses.asdict(model.config),
                                   "tokenizer": tokenizer.to_dict(), "imported_from": info})
    return model, tokenizer, info


def find_meta(ckpt: Path, checkpoint: dict) -> Path | None:
    """``meta.pkl`` for ``ckpt``: beside it, else ``data/<config['dataset']>/meta.pkl`` in the folder
    above it (a nanoGPT checkout with ``out_dir`` inside) or in the current directory (sample.py's lookup).
    """
    candidates = [ckpt.parent / META_NAME]
    config = checkpoint.get("config")
    dataset = config.get("dataset") if isinstance(config, dict) else None
    if isinstance(dataset, str) and _PLAIN_NAME.fullmatch(dataset):
        candidates += [ckpt.resolve().parent.parent / "data" / dataset / META_NAME,
                       Path("data") / dataset / META_NAME]
    return next((path for path in candidates if path.is_file()), None)


def _load(torch, ckpt: Path) -> dict:
    """``torch.load`` with ``weights_only=True``; every failure becomes one line."""
    if not ckpt.exists():
        raise NanoGPTError(f"file not found: {ckpt}")
    if ckpt.is_dir():
        raise NanoGPTError(f"{ckpt} is a directory; give the ckpt.pt file inside it")
    if ckpt.stat().st_size == 0:
        raise NanoGPTError(f"{ckpt} is empty")
    try:
        checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # noqa: BLE001 - torch raises RuntimeError, UnpicklingError, ValueError...
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise NanoGPTError(f"{ckpt} is not a readable PyTorch checkpoint: truncated, damaged or not "
                           f"weights-only ({reason})") from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "model_args" not in checkpoint:
        raise NanoGPTError(f"{ckpt} is not a nanoGPT checkpoint (no 'model' and 'model_args' entries)")
    return checkpoint


def _state_dict(model, ckpt: Path) -> dict:
    """The model's state dict with torch.compile's ``_orig_mod.`` prefixes stripped, as sample.py does."""
    if not isinstance(model, dict):
        raise NanoGPTError(f"{ckpt}: 'model' is a {type(model).__name__}, not a state dict")
    state = {}
    for key, value in model.items():
        name = key[len(COMPILED_PREFIX):] if isinstance(key, str) and key.startswith(COMPILED_PREFIX) else key
        state[name] = value
    return state


def _check_keys_and_shapes(state: dict, args: dict, ckpt: Path) -> None:
    """Key set and shapes of ``state`` must be nanoGPT's GPT for ``args`` (causal-mask buffers dropped)."""
    per_layer = 12 if args["bias"] else 8
    masks = [k for k in state if isinstance(k, str) and _MASK_KEY.fullmatch(k)]
    if args["n_layer"] * per_layer > len(state):  # before enumerating n_layer blocks
        raise NanoGPTError(f"{ckpt} is not a nanoGPT GPT with {args['n_layer']} layers: "
                           f"it holds only {len(state)} tensors")
    expected = state_shapes(args)
    for key in masks:
        if int(_MASK_KEY.fullmatch(key).group(1)) < args["n_layer"]:
            del state[key]
    missing = [k for k in expected if k not in state]
    unexpected = [str(k) for k in state if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {_few(missing)}"] if missing else []) + \
                ([f"unexpected {_few(unexpected)}"] if unexpected else [])
        raise NanoGPTError(f"{ckpt} is not a nanoGPT GPT of its model_args ({'; '.join(parts)})")
    for key, shape in expected.items():
        value = state[key]
        if not hasattr(value, "is_floating_point") or not value.is_floating_point():
            raise NanoGPTError(f"{ckpt}: {key} is not a floating-point tensor")
        if tuple(value.shape) != shape:
            raise NanoGPTError(f"{ckpt}: {key} has shape {tuple(value.shape)}, model_args imply {shape}")


def _few(names: list[str], shown: int = 3) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _load_meta(path: Path):
    if not path.is_file():
        raise NanoGPTError(f"meta file not found: {path}")
    try:
        return load_plain_pickle(path)
    except UnsafePickleError as error:
        raise NanoGPTError(str(error)) from None


def _no_meta_message(ckpt: Path, checkpoint: dict, vocab_size: int) -> str:
    if vocab_size in GPT2_VOCABS:
        return (f"{ckpt} is a GPT-2 BPE model (vocabulary {vocab_size}) without a meta.pkl; stepgrad imports "
                "character-level nanoGPT models (GPT-2 weights load with GPT.from_pretrained)")
    return (f"no meta.pkl found for {ckpt} (looked beside it and in data/<dataset>/ as sample.py does); "
            "pass --meta FILE")
