"""No numpy warning ever reaches a user: each command that meets overflow, NaN or a tiny temperature says what
happened in its own words (or just works), with nothing from numpy on stderr."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
TINY = ["--batch-size", "4", "--block-size", "8", "--no-progress", "--eval-interval", "0"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("warnings")
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    return folder


COMMANDS = {
    "linreg diverging": ["linreg", "--lr", "5"],
    "linreg newton with a huge step": ["linreg", "--optimizer", "newton", "--lr", "1e300", "--steps", "3"],
    "linreg adagrad diverging": ["linreg", "--optimizer", "adagrad", "--lr", "1e30", "--steps", "5"],
    "train diverging": ["train", "--model", "bigram", *TINY, "--data", "corpus.txt", "--out", "hot", "--lr", "1e30",
                        "--steps", "5"],
    "train gpt with a huge rate": ["train", "--model", "gpt", "--n-layer", "1", "--n-embd", "8", "--n-head", "2",
                                   *TINY, "--data", "corpus.txt", "--out", "hotgpt", "--lr", "1e38",
                                   "--grad-clip", "0", "--steps", "5"],
    "sample at a tiny temperature": ["sample", "--checkpoint", "run/checkpoint.safetensors", "--temperature",
                                     "1e-300", "--tokens", "20"],
    "graph check": ["graph", "--model", "mlp", "--check", "-o", "mlp.dot"],
}


@pytest.fixture(scope="module")
def trained(folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "models", "train", "--model", "bigram", *TINY, "--data",
                           "corpus.txt", "--out", "run", "--steps", "3"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.mark.parametrize("name", COMMANDS)
def test_no_numpy_warning_reaches_the_user(trained, name):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="default")  # show every warning there is
    proc = subprocess.run([sys.executable, "-m", "models", *COMMANDS[name]], cwd=trained, env=env,
                          capture_output=True, text=True, timeout=300)
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stderr
    if proc.returncode == 1:
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("stepgrad: error: ")
