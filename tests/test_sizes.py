"""Sizes checked before allocating: parameter counts and memory estimates from the config alone, and refusals."""

import dataclasses
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_runs import runner
from models import sizes
from models.bigram import BigramConfig
from models.checkpoint_meaning import MODEL_FIELD_RULES
from models.cli import main
from models.gpt import GPTConfig
from models.mlp import MLPConfig
from models.registry import MODELS, build_model
from models.sizes import Estimate, SizeError, check_fits, training_estimate
from models.train import train
from models.train_config import make_config, model_config_for

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = [
    ("bigram", BigramConfig(7)),
    ("mlp", MLPConfig(9, block_size=4, n_embd=5, n_hidden=11)),
    ("gpt", GPTConfig(13, block_size=8, n_layer=2, n_head=2, n_embd=8)),
    ("gpt", GPTConfig(13, block_size=8, n_layer=3, n_head=2, n_embd=8, bias=True)),
]


@pytest.mark.parametrize("kind, config", CONFIGS, ids=lambda c: c if isinstance(c, str) else "")
def test_the_config_knows_its_models_shapes_and_size_without_building_it(kind, config):
    model = build_model(kind, config)
    assert list(config.parameter_shapes()) == [(k, v.shape) for k, v in model.state_dict().items()]
    assert config.num_parameters() == model.num_parameters()


def test_every_model_config_field_has_a_rule():
    for spec in MODELS.values():
        for field in dataclasses.fields(spec.config_cls):
            assert field.name in MODEL_FIELD_RULES, f"{spec.config_cls.__name__}.{field.name} has no rule"


MEASURE = r"""
import json, sys
import numpy as np
from engine import manual_seed
from models.registry import build_model
from models.run_state import save_run
from models.tokenizer import CharTokenizer
from models.train_config import make_config, make_optimizer, model_config_for
from optim import clip_grad_norm_
from pathlib import Path

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

kind, vocab, given, out = json.loads(sys.argv[1])
config = make_config(kind, data="unused", out=out, **given)
model_config = model_config_for(config, vocab)
ids = np.random.default_rng(0).integers(0, vocab, 50_000)
from engine import kernels
if kernels.backend() == "numba":  # the compiled backend's own memory (numba, its loops) is not the training's
    from engine.kernels import compiled
    compiled.warm_up()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
manual_seed(0)
model = build_model(kind, model_config)
optimizer = make_optimizer(model, config)
B, T = config.batch_size, config.block_size
for step in range(3):
    offsets = np.random.default_rng(step).integers(0, len(ids) - T - 1, B)
    window = offsets[:, None] + np.arange(T)
    logits, loss = model(ids[window], ids[window + 1])
    optimizer.zero_grad()
    loss.backward()
    clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    del logits, loss
tokenizer = CharTokenizer("".join(chr(0x100 + i) for i in range(vocab)))
save_run(Path(out) / "checkpoint.safetensors", model, optimizer, np.random.default_rng(0), 3, config,
         model_config, tokenizer, "0" * 64)
print(status("VmHWM") - base)
"""


@pytest.mark.parametrize("kind, vocab, given", [
    ("bigram", 3000, dict(batch_size=16, block_size=16)),
    ("bigram", 300, dict(batch_size=128, block_size=64)),
    ("mlp", 1000, dict(batch_size=64, block_size=16, n_hidden=1000)),
    ("gpt", 65, dict(batch_size=16, block_size=128, n_layer=2)),
    ("gpt", 2000, dict(batch_size=4, block_size=32, n_embd=384, n_head=6)),
])
def test_the_training_estimate_is_within_half_of_the_measured_peak(kind, vocab, given, tmp_path):
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure the peak")
    config = make_config(kind, data="unused", out=str(tmp_path), **given)
    estimate = training_estimate(config, model_config_for(config, vocab), 0)
    proc = subprocess.run([sys.executable, "-c", MEASURE, json.dumps([kind, vocab, given, str(tmp_path)])],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300)
    assert proc.returncode == 0, proc.stderr
    measured = int(proc.stdout)
    assert measured / 1.5 < estimate.bytes < measured * 1.5, (estimate.bytes, measured)


@pytest.mark.parametrize("flags", [["--n-layer", "100000"], ["--n-embd", "20000"]])
def test_a_model_that_cannot_fit_is_refused_at_once_with_its_estimate(flags, tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("hello world, " * 100, encoding="utf-8")
    start = time.perf_counter()
    code = main(["train", "--model", "gpt", "--data", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "run"),
                 "--no-progress", *flags])
    assert time.perf_counter() - start < 2
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert re.match(r"stepgrad: error: training gpt needs about [\d.]+ [TGP]B of memory \([\d,]+ parameters\); "
                    r"this machine has [\d.]+ [kMGT]?B available$", err[0]), err
    assert not (tmp_path / "run").exists()  # a refused run leaves no folder behind


def test_the_checkpoint_header_estimate_bounds_a_real_one(tmp_path):
    """A checkpoint is read back only if its header is at most MAX_HEADER_BYTES, so training checks it first."""
    (tmp_path / "corpus.txt").write_text("hello world, " * 100, encoding="utf-8")
    config = make_config("gpt", data=str(tmp_path / "corpus.txt"), out=str(tmp_path / "run"), n_layer=24, n_embd=4,
                         n_head=1, batch_size=1, block_size=4, steps=1, eval_interval=0)
    train(config, progress=False, echo=lambda line: None)
    with open(tmp_path / "run" / "checkpoint.safetensors", "rb") as f:
        (real,) = struct.unpack("<Q", f.read(8))
    estimate = sizes.checkpoint_header_bytes(config, model_config_for(config, 9))
    assert real < estimate < 1.5 * real, (estimate, real)


def test_a_model_whose_checkpoint_could_not_be_read_back_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("hello world, " * 100, encoding="utf-8")
    code = main(["train", "--model", "gpt", "--data", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "run"),
                 "--n-layer", "3000", "--n-embd", "4", "--n-head", "1", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert re.match(r"stepgrad: error: training gpt would write checkpoints with a header of about [\d.]+ MB .*"
                    r"more than the 8.39 MB a checkpoint may have: use fewer layers$", err[0]), err
    assert not (tmp_path / "run").exists()


def test_a_big_vocabulary_is_estimated_and_refused_when_memory_is_short(tmp_path, capsys, monkeypatch):
    text = "".join(chr(0x4E00 + i) for i in range(10_000)) * 2
    (tmp_path / "wide.txt").write_text(text, encoding="utf-8")
    config = make_config("bigram", data=str(tmp_path / "wide.txt"), out=str(tmp_path / "run"))
    estimate = training_estimate(config, model_config_for(config, 10_000), len(text))
    assert estimate.parameters == 100_000_000 and 1.5e9 < estimate.bytes < 4e9
    monkeypatch.setattr(sizes, "available_memory", lambda: 10**9)
    code = main(["train", "--model", "bigram", "--data", str(tmp_path / "wide.txt"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("stepgrad: error: training bigram needs about ") and "100,000,000 parameters" in err
    assert "this machine has 1 GB available" in err and not (tmp_path / "run" / "checkpoint.safetensors").exists()


def test_the_opening_line_gives_the_parameters_and_the_memory(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("hello world, " * 100, encoding="utf-8")
    assert main(["train", "--model", "bigram", "--data", str(tmp_path / "corpus.txt"), "--out", str(tmp_path / "run"),
                 "--steps", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "training bigram (81 parameters, about " in out  # 9 characters, squared
    assert "; 1 step, batch " in out  # one step, not "1 steps"


def test_a_resumed_run_prints_the_estimate_of_the_same_run_started_fresh(tmp_path):
    """The checkpoint a resumed run reads is freed before its first step: the run's peak, and so its estimate,
    is the fresh run's (a checkpoint's bytes once counted as 13 bytes of text each)."""
    (tmp_path / "corpus.txt").write_text("hello world, " * 100, encoding="utf-8")
    stepgrad = runner(tmp_path)
    tiny = ["--model", "gpt", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "8",
            "--batch-size", "4", "--eval-interval", "0", "--no-progress"]
    fresh = stepgrad("train", *tiny, "--data", "corpus.txt", "--out", "run", "--steps", "2")
    resumed = stepgrad("train", "--out", "run", "--resume", "--steps", "3", "--no-progress")
    assert fresh.returncode == 0 and resumed.returncode == 0, fresh.stderr + resumed.stderr
    memory = [re.search(r"^training gpt \(([\d,]+ parameters, about [\d.]+ [kMG]?B of memory)\)", proc.stdout)
              for proc in (fresh, resumed)]
    assert all(memory) and "resuming at step 2 of 3" in resumed.stdout, fresh.stdout + resumed.stdout
    assert memory[0].group(1) == memory[1].group(1)


def test_check_fits_passes_what_fits(monkeypatch):
    monkeypatch.setattr(sizes, "available_memory", lambda: 1000)
    check_fits(Estimate(10, 1000), "x")
    with pytest.raises(SizeError, match="^x needs about 1 kB of memory"):
        check_fits(Estimate(10, 1001), "x")
    monkeypatch.setattr(sizes, "available_memory", lambda: None)
    check_fits(Estimate(10, 10**30), "x")


def test_available_memory_is_a_positive_number_here():
    available = sizes.available_memory()
    assert available is None or available > 0


def test_the_optimizer_probe_counts_the_update_not_a_backend_loading():
    """In a fresh process, where the first compiled update would load numba, AdamW's step still costs
    a few float32 copies per parameter (the probe once counted numba's import: 7,919 bytes)."""
    code = "from models.sizes import optimizer_bytes; print(*optimizer_bytes('adamw', lr=1e-3, weight_decay=0.1))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    step_bytes, state_bytes = map(int, proc.stdout.split())
    assert state_bytes == 8 and step_bytes <= 32, (step_bytes, state_bytes)
