"""Read a Hugging Face GPT-2 folder (``config.json`` + ``model.safetensors``) into stepgrad's GPT layout.

GPT-2 is the model nanoGPT's architecture copies, so the weights map name for
name, with two differences that nanoGPT's ``from_pretrained`` also handles:

- OpenAI's checkpoints use a ``Conv1D`` module whose weight is stored (in, out),
  so ``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc`` and ``mlp.c_proj`` weights are
  transposed into ``nn.Linear``'s (out, in);
- the causal-mask buffers (``attn.bias``, ``attn.masked_bias``) are not weights
  and are dropped, as is ``lm_head.weight`` (tied to ``wte``).

GPT-2 was trained with the tanh approximation of GELU (``activation_function:
"gelu_new"``), which the returned config asks for. Nothing here needs PyTorch or
transformers: the safetensors file is read with numpy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from models.gpt_layout import MAX_MASK_BYTES, mask_bytes, state_shapes

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
MAX_CONFIG_BYTES = 2**20
CONV1D_WEIGHTS = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
BUFFERS = (".attn.bias", ".attn.masked_bias")
GELU_VARIANTS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none"}


class PretrainedError(ValueError):
    """A folder that does not hold a GPT-2 stepgrad can load; the message is one line."""


def read_gpt2(folder: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(GPTConfig fields, state dict in stepgrad's names and layout)`` of the GPT-2 in ``folder``.

    Raises ``PretrainedError`` naming the problem: a missing file, a config that is
    not GPT-2's architecture, or weights whose names or shapes do not fit it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise PretrainedError(f"{folder} is not a folder (expected a Hugging Face GPT-2 folder with "
                              f"{CONFIG_NAME} and {WEIGHTS_NAME})")
    fields = gpt2_config_fields(_read_config(folder / CONFIG_NAME))
    state = _read_weights(folder, fields)
    return fields, state


def gpt2_config_fields(hf: dict) -> dict:
    """stepgrad ``GPTConfig`` fields for a Hugging Face ``GPT2Config`` dict; unsupported variants are errors."""
    if hf.get("model_type") != "gpt2":
        raise PretrainedError(f"config.json describes a {hf.get('model_type')!r} model, not 'gpt2'")
    sizes = {name: hf.get(key) for name, key in (("n_layer", "n_layer"), ("n_head", "n_head"),
                                                  ("n_embd", "n_embd"), ("vocab_size", "vocab_size"))}
    sizes["block_size"] = hf.get("n_positions", hf.get("n_ctx"))
    for name, value in sizes.items():
        if type(value) is not int or value < 1:
            raise PretrainedError(f"config.json: {name} must be a positive integer, not {value!r}")
    masks = mask_bytes(sizes["n_layer"], sizes["block_size"])
    if masks > MAX_MASK_BYTES:
        raise PretrainedError(f"config.json: n_positions {sizes['block_size']} with {sizes['n_layer']} layers needs "
                              f"{masks / 2**30:.1f} GiB of causal masks in stepgrad (limit 1 GiB)")
    if sizes["n_embd"] % sizes["n_head"]:
        raise PretrainedError(f"config.json: n_embd {sizes['n_embd']} is not a multiple of n_head {sizes['n_head']}")
    activation = hf.get("activation_function", "gelu_new")
    if activation not in GELU_VARIANTS:
        raise PretrainedError(f"config.json: activation_function {activation!r} is not a GELU "
                              f"({', '.join(GELU_VARIANTS)})")
    unsupported = {"n_inner": (None, 4 * sizes["n_embd"]), "scale_attn_weights": (True,),
                   "scale_attn_by_inverse_layer_idx": (False,), "add_cross_attention": (False,),
                   "tie_word_embeddings": (True,)}
    for key, allowed in unsupported.items():
        if key in hf and hf[key] not in allowed:
            raise PretrainedError(f"config.json: {key} = {hf[key]!r} is a GPT-2 variant stepgrad's GPT does not "
                                  f"have (it needs {' or '.join(map(repr, allowed))})")
    eps = hf.get("layer_norm_epsilon", 1e-5)
    if not isinstance(eps, (int, float)) or not math.isclose(eps, 1e-5, rel_tol=1e-6):
        raise PretrainedError(f"config.json: layer_norm_epsilon {eps!r} differs from stepgrad's LayerNorm (1e-5)")
    return {**sizes, "dropout": 0.0, "bias": True, "gelu_approximate": GELU_VARIANTS[activation]}


def _read_config(path: Path) -> dict:
    if not path.is_file():
        raise PretrainedError(f"{path} not found (a Hugging Face GPT-2 folder has {CONFIG_NAME} and {WEIGHTS_NAME})")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise PretrainedError(f"{path} is too large to be a model config")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PretrainedError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise PretrainedError(f"{path} is not a JSON object")
    return config


def _read_weights(folder: Path, fields: dict) -> dict[str, np.ndarray]:
    """The weights in stepgrad's names: shapes checked from the file's header before any tensor is read."""
    from safetensors import safe_open

    path = folder / WEIGHTS_NAME
    if not path.is_file():
        other = [p.name for p in (folder / "model.safetensors.index.json", folder / "pytorch_model.bin") if p.exists()]
        hint = f" (found {', '.join(other)}: only a single model.safetensors is read)" if other else ""
        raise PretrainedError(f"{path} not found{hint}")
    expected = state_shapes(fields)
    try:
        with safe_open(str(path), framework="np") as f:
            names = {_stepgrad_name(key): key for key in f.keys() if not key.endswith(BUFFERS)}
            names.pop("lm_head.weight", None)  # tied to wte (tie_word_embeddings is checked above)
            _check_names(names, expected, path)
            shapes = {name: tuple(f.get_slice(key).get_shape()) for name, key in names.items()}
            for name, shape in shapes.items():
                want = expected[name][::-1] if name.endswith(CONV1D_WEIGHTS) else expected[name]
                if shape != want:
                    raise PretrainedError(f"{path}: {names[name]} has shape {shape}, config.json implies {want}")
            state = {name: _as_float32(f.get_tensor(key), name) for name, key in names.items()}
    except PretrainedError:
        raise
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        reason = (str(error).splitlines() or [type(error).__name__])[0][:200]
        raise PretrainedError(f"{path} is not a readable safetensors file ({reason})") from None
    state = {name: np.ascontiguousarray(a.T) if name.endswith(CONV1D_WEIGHTS) else a for name, a in state.items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    return {name: state[name] for name in expected}


def _stepgrad_name(key: str) -> str:
    """``h.0.attn.c_attn.weight`` (GPT2Model) or ``transformer.h.0...`` (GPT2LMHeadModel) -> stepgrad's name."""
    return key if key.startswith(("transformer.", "lm_head.")) else f"transformer.{key}"


def _check_names(names: dict, expected: dict, path: Path) -> None:
    missing = [k for k in expected if k not in names and k != "lm_head.weight"]
    unexpected = [names[k] for k in names if k not in expected]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + \
                ([f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
        raise PretrainedError(f"{path} does not hold the GPT-2 that config.json describes ({'; '.join(parts)})")


def _as_float32(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype.kind != "f":
        raise PretrainedError(f"{name} holds {array.dtype} numbers, not floating point")
    return array.astype(np.float32, copy=False)
