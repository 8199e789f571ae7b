"""`stepgrad train --init-from FILE`: a new run that starts from a saved model's weights, sizes and vocabulary."""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.init_from import InitFromError, load_source, sizes_from
from models.metrics import read_metrics
from models.train import make_config, train
from models.train_config import config_from_checkpoint
from models.trained import load_model

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
QUIET = dict(progress=False, echo=lambda line: None)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base(corpus, tmp_path_factory):
    """A GPT trained for 10 steps: its checkpoint."""
    out = tmp_path_factory.mktemp("base")
    train(make_config("gpt", data=str(corpus), out=str(out), steps=10, n_layer=1, n_head=2, n_embd=16,
                      block_size=8, batch_size=4, eval_interval=0), **QUIET)
    return out / "checkpoint.safetensors"


def fine_tune_config(source, corpus, out, **given):
    given = sizes_from(load_source(source), {"init_from": str(source), **given}, source)
    return make_config(given.pop("model"), data=str(corpus), out=str(out), batch_size=4, eval_interval=0, **given)


def test_the_run_starts_from_the_saved_weights(base, corpus, tmp_path):
    config = fine_tune_config(base, corpus, tmp_path / "ft", steps=1, lr=1e-12, min_lr=0, warmup_steps=0,
                              weight_decay=0)
    assert (config.n_layer, config.n_embd, config.block_size) == (1, 16, 8)
    result = train(config, **QUIET)
    original, _, _ = load_model(base)
    for name, array in original.state_dict().items():
        np.testing.assert_allclose(result.model.state_dict()[name], array, atol=1e-9, err_msg=name)
    assert result.step == 1


def test_a_size_that_differs_from_the_saved_model_is_an_error(base):
    with pytest.raises(InitFromError, match="--n-embd 32 differs from the model in"):
        sizes_from(load_source(base), {"n_embd": 32}, base)
    with pytest.raises(InitFromError, match="--model mlp differs"):
        sizes_from(load_source(base), {"model": "mlp"}, base)


def nanogpt_bias_checkpoint(folder):
    """A nanoGPT ckpt.pt of a model with biases (a field stepgrad's train flags cannot set) and its meta.pkl."""
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from tests.torch_gpt import NanoGPTConfig, TorchGPT

    chars = sorted(set(TEXT))
    args = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, bias=True, vocab_size=len(chars), dropout=0.0)
    torch.manual_seed(0)
    (folder / "data" / "chars").mkdir(parents=True)
    (folder / "out").mkdir()
    torch.save({"model": TorchGPT(NanoGPTConfig(**args)).state_dict(), "model_args": args,
                "config": {"dataset": "chars"}, "iter_num": 100}, folder / "out" / "ckpt.pt")
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    (folder / "data" / "chars" / "meta.pkl").write_bytes(pickle.dumps(meta))
    return folder / "out" / "ckpt.pt"


def test_a_nanogpt_ckpt_fine_tunes_and_resumes_exactly(corpus, tmp_path):
    ckpt = nanogpt_bias_checkpoint(tmp_path)
    whole = train(fine_tune_config(ckpt, corpus, tmp_path / "whole", steps=6), **QUIET)
    assert whole.model.config.bias
    train(fine_tune_config(ckpt, corpus, tmp_path / "split", steps=3), **QUIET)
    train(config_from_checkpoint(tmp_path / "split", steps=6), resume=True, **QUIET)
    losses = [[r["loss"] for r in read_metrics(tmp_path / name / "metrics.jsonl")] for name in ("whole", "split")]
    assert losses[0] == losses[1] and len(losses[0]) == 6


def test_text_outside_the_vocabulary_is_one_line(base, tmp_path):
    (tmp_path / "other.txt").write_text("ZZZ QQQ XXX\n" * 50, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "models", "train", "--init-from", str(base), "--data", "other.txt",
                           "--steps", "1", "--no-progress", "--out", "ft"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert "does not fit the checkpoint's vocabulary" in proc.stderr


def test_the_command_line_reads_the_saved_models_data_once(base, corpus, tmp_path, monkeypatch):
    from models.checkpoint import CheckpointFile
    from models.cli import main
    reads = []
    original = CheckpointFile.read_tensors
    monkeypatch.setattr(CheckpointFile, "read_tensors", lambda self: reads.append(self.path) or original(self))
    status = main(["train", "--init-from", str(base), "--data", str(corpus), "--out", str(tmp_path / "ft"),
                   "--steps", "1", "--batch-size", "4", "--eval-interval", "0", "--no-progress"])
    assert status == 0
    assert reads.count(base) == 1                     # for the sizes and the weights alike
