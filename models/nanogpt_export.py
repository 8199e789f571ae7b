"""``stepgrad export --to nanogpt``: a stepgrad GPT checkpoint as a nanoGPT run.

The output directory is laid out like the part of a nanoGPT checkout that its
scripts read, so it can be copied over one (or written straight into one)::

    DIR/out-<dataset>/ckpt.pt          model, optimizer, model_args, iter_num, best_val_loss, config
    DIR/data/<dataset>/meta.pkl        the character vocabulary: vocab_size, itos, stoi
    DIR/data/<dataset>/train.bin       the training text's ids (uint16), when the text is at hand
    DIR/data/<dataset>/val.bin         and its validation split

Then, in nanoGPT's directory, ``python sample.py --out_dir=out-<dataset>`` samples
from it and ``python train.py --init_from=resume --out_dir=out-<dataset>
--dataset=<dataset>`` (or ``torchrun ... train.py ...``) trains on. ``ckpt.pt``
holds only tensors, dicts, lists, tuples, strings and numbers, so PyTorch's
``torch.load(weights_only=True)`` (the default since 2.6) reads it.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.checkpoint import open_checkpoint
from models.data import CharDataset, DataError, load_text
from engine.files import write_all_or_nothing
from models.gpt_layout import state_shapes
from models.nanogpt_format import CKPT_NAME, META_NAME, NanoGPTError, meta_for, model_args_for, require_torch
from models.tokenizer import TokenizerError
from models.trained import load_model_and_tensors
from optim import unflatten_state_dict

DEFAULT_DATASET = "stepgrad"
UNKNOWN_VAL_LOSS = 1e9  # nanoGPT's own starting value of best_val_loss
NANOGPT_ADAMW = {"lr": 6e-4, "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1}  # train.py's defaults
_DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class ExportResult:
    """What ``export_nanogpt`` wrote, and notes for the user (e.g. why no train.bin)."""
    ckpt: Path
    meta: Path
    written: list[Path]
    notes: list[str] = field(default_factory=list)


def export_nanogpt(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, dataset: str = DEFAULT_DATASET,
                   data: str | None = None) -> ExportResult:
    """Write the GPT in stepgrad ``checkpoint`` into ``out_dir`` as a nanoGPT run named ``dataset``.

    ``data`` is the training text for ``train.bin``/``val.bin`` (default: the text
    the checkpoint was trained on, when it is still there unchanged). Every file is
    staged first and renamed into place at the end, so a failure leaves nothing
    behind. Raises ``NanoGPTError`` (one line) for a model other than GPT, a
    missing PyTorch, or a bad dataset name.
    """
    torch = require_torch("exporting to nanoGPT")
    if not _DATASET_NAME.fullmatch(dataset):
        raise NanoGPTError(f"--dataset {dataset!r} must be a plain folder name (letters, digits, _ . -)")
    kind = open_checkpoint(checkpoint).meta.get("kind")               # the header alone
    if kind != "gpt":
        raise NanoGPTError(f"only a GPT can be exported to nanoGPT; {checkpoint} holds a {kind or 'unknown'} model")
    model, tokenizer, meta, tensors = load_model_and_tensors(checkpoint)  # the data, read once
    args = model_args_for(model.config)
    train_config = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    out_name = f"out-{dataset}"
    notes: list[str] = []
    ckpt = {
        "model": _torch_state(torch, model, args),
        "optimizer": _torch_optimizer(torch, meta, tensors, args, notes),
        "model_args": args,
        "iter_num": int(meta.get("step", 0)),
        "best_val_loss": UNKNOWN_VAL_LOSS,
        "config": _nanogpt_config(train_config, args, dataset, out_name),
    }
    buffer = io.BytesIO()
    torch.save(ckpt, buffer)

    out = Path(out_dir)
    data_dir = out / "data" / dataset
    files = {out / out_name / CKPT_NAME: buffer.getvalue(),
             data_dir / META_NAME: pickle.dumps(meta_for(tokenizer), protocol=4)}
    files.update(_data_bins(tokenizer, meta, train_config, data, data_dir, notes))
    write_all_or_nothing(files)
    return ExportResult(out / out_name / CKPT_NAME, data_dir / META_NAME, list(files), notes)


def _torch_state(torch, model, args: dict) -> dict:
    """nanoGPT's state dict: stepgrad's arrays as float32 tensors, lm_head the same tensor as wte."""
    state = model.state_dict()
    expected = state_shapes(args)
    if list(state) != list(expected) or any(state[k].shape != s for k, s in expected.items()):
        raise NanoGPTError("this GPT's parameters do not map onto nanoGPT's (names or shapes differ)")
    tensors = {name: torch.from_numpy(np.array(array, dtype=np.float32)) for name, array in state.items()
               if name != "lm_head.weight"}
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"]  # tied, as in nanoGPT
    return tensors


def _torch_optimizer(torch, meta: dict, tensors: dict, args: dict, notes: list[str]) -> dict:
    """``torch.optim.AdamW.state_dict()`` for nanoGPT's two groups (decay: matrices; no decay: the rest).

    An AdamW run's moments and step count carry over, parameter by parameter (matched by
    name); otherwise the groups start with empty state and the run's hyperparameters.
    """
    shapes = state_shapes(args)
    names = [n for n in shapes if n != "lm_head.weight"]  # named_parameters: the tied weight once
    groups = [[n for n in names if len(shapes[n]) >= 2], [n for n in names if len(shapes[n]) < 2]]
    groups = [g for g in groups if g]
    index = {name: i for i, name in enumerate(n for g in groups for n in g)}
    saved = _saved_adamw(meta, tensors, set(names), notes)
    train_config = meta.get("train_config") or {}
    hyper = dict(NANOGPT_ADAMW)
    if "betas" in train_config:
        hyper.update(lr=train_config["lr"], betas=tuple(train_config["betas"]),
                     weight_decay=train_config["weight_decay"])
    state = {}
    if saved is not None:
        hyper.update({k: saved["param_groups"][0][k] for k in ("lr", "betas", "eps")})
        for group in saved["param_groups"]:
            for i, name in zip(group["params"], group["param_names"]):
                st = saved["state"].get(int(i))
                if st:
                    state[index[name]] = {
                        "step": torch.tensor(float(st["step"]), dtype=torch.float32),
                        "exp_avg": torch.from_numpy(np.array(st["exp_avg"], dtype=np.float32)),
                        "exp_avg_sq": torch.from_numpy(np.array(st["exp_avg_sq"], dtype=np.float32))}
    param_groups = []
    for g, decay in zip(groups, (hyper["weight_decay"], 0.0)):
        param_groups.append({"weight_decay": float(decay), "lr": float(hyper["lr"]),
                             "betas": tuple(float(b) for b in hyper["betas"]), "eps": float(hyper["eps"]),
                             "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                             "differentiable": False, "fused": None, "decoupled_weight_decay": True,
                             "params": [index[n] for n in g]})
    return {"state": state, "param_groups": param_groups}


def _saved_adamw(meta: dict, tensors: dict, names: set[str], notes: list[str]) -> dict | None:
    """The checkpoint's AdamW state dict (arrays put back), or None and a note when there is none to carry."""
    train_config = meta.get("train_config") or {}
    if train_config.get("optimizer") != "adamw" or "optimizer" not in meta:
        notes.append("the optimizer state starts fresh in nanoGPT (this run did not use AdamW)")
        return None
    saved = unflatten_state_dict(tensors, meta["optimizer"])
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    named = all(len(g.get("param_names", ())) == len(g["params"]) and set(g.get("param_names", ())) <= names
                for g in groups or ())
    if not groups or not named:
        notes.append("the optimizer state starts fresh in nanoGPT (its parameters are not named as nanoGPT's)")
        return None
    return saved


def _nanogpt_config(train_config: dict, args: dict, dataset: str, out_name: str) -> dict:
    """nanoGPT's ``config`` entry: its train.py settings, as far as the stepgrad run had them."""
    config = {"out_dir": out_name, "init_from": "resume", "dataset": dataset,
              **{k: args[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "dropout", "bias")}}
    if train_config:
        config.update(eval_interval=train_config["eval_interval"], eval_iters=train_config["eval_iters"],
                      gradient_accumulation_steps=1, batch_size=train_config["batch_size"],
                      learning_rate=train_config["lr"], max_iters=train_config["steps"],
                      weight_decay=train_config["weight_decay"], beta1=train_config["betas"][0],
                      beta2=train_config["betas"][1], grad_clip=train_config["grad_clip"], decay_lr=True,
                      warmup_iters=train_config["warmup_steps"], lr_decay_iters=train_config["steps"],
                      min_lr=train_config["min_lr"])
    return config


def _data_bins(tokenizer, meta: dict, train_config: dict, data: str | None, data_dir: Path,
               notes: list[str]) -> dict[Path, bytes]:
    """``train.bin`` and ``val.bin`` (uint16 ids, nanoGPT's split), or nothing and a note why."""
    source = data or train_config.get("data")
    if source is None:
        notes.append("no train.bin/val.bin: the checkpoint does not say what it was trained on (pass --data)")
        return {}
    if tokenizer.vocab_size > 2**16:
        notes.append("no train.bin/val.bin: nanoGPT stores ids as uint16, the vocabulary is larger")
        return {}
    try:
        text = load_text(source)
        if data is None and hashlib.sha256(text.encode("utf-8")).hexdigest() != meta.get("data_sha256"):
            notes.append(f"no train.bin/val.bin: {source} has changed since training (pass --data)")
            return {}
        dataset = CharDataset(text, float(train_config.get("val_fraction", 0.1)), tokenizer, source=source)
    except (DataError, TokenizerError) as error:
        if data is not None:
            raise NanoGPTError(f"--data {data}: {' '.join(str(error).split())}") from None
        notes.append(f"no train.bin/val.bin: the training text {source} is not at hand (pass --data)")
        return {}
    return {data_dir / "train.bin": dataset.train.astype(np.uint16).tobytes(),
            data_dir / "val.bin": dataset.val.astype(np.uint16).tobytes()}
