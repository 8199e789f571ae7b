"""`stepgrad sample` output: streamed as it is drawn, at a flat cost per token, and safe to show: a vocabulary's
control characters are escaped on a terminal, and characters the output cannot encode never crash it."""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.checkpoint import load_checkpoint, save_checkpoint
from models.display import shown_on
from models.registry import build_model
from models.sampling import SamplingError, generate, generate_tokens, sample_next
from models.train import make_config, train

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def hostile_vocabulary(tmp_path_factory):
    """A bigram checkpoint whose two characters are ESC and a lone surrogate (an attacker's vocabulary)."""
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "ab.txt").write_text("abba" * 200, encoding="utf-8")
    train(make_config("bigram", data=str(folder / "ab.txt"), out=str(folder / "run"), steps=2, batch_size=4,
                      block_size=8, eval_interval=0), progress=False, echo=lambda line: None)
    tensors, meta = load_checkpoint(folder / "run" / "checkpoint.safetensors")
    meta["tokenizer"]["chars"] = "\x1b\ud800"
    path = folder / "hostile.safetensors"
    save_checkpoint(path, tensors, meta)
    return path


def sample_command(checkpoint, tokens=40):
    return [sys.executable, "-m", "models", "sample", "--checkpoint", str(checkpoint), "--tokens", str(tokens),
            "--seed", "0"]


def test_through_a_pipe_the_text_is_kept_and_unencodable_characters_are_escaped(hostile_vocabulary):
    proc = subprocess.run(sample_command(hostile_vocabulary), capture_output=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8")
    assert "\x1b" in out and "\\ud800" in out  # kept as written; the surrogate, which UTF-8 cannot hold, escaped
    assert len(out.strip().replace("\\ud800", "S")) == 41  # the prompt and 40 characters


def test_on_a_terminal_control_characters_are_escaped(hostile_vocabulary):
    main, secondary = os.openpty()
    proc = subprocess.Popen(sample_command(hostile_vocabulary), stdout=secondary, stderr=subprocess.PIPE, env=ENV)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal's other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    assert b"\x1b" not in shown and b"\\x1b" in shown and b"\\ud800" in shown


def test_display_escapes_terminal_controls_only_on_a_terminal():
    class Terminal:
        encoding = "utf-8"

        def isatty(self):
            return True

    show = shown_on(Terminal())
    assert show("a\x1b[31mb\u202ec\n\td\x9b") == "a\\x1b[31mb\\u202ec\n\td\\x9b"
    assert show("caf\u00e9 \U0001F600") == "caf\u00e9 \U0001F600"


def test_tokens_stream_as_they_are_drawn(tmp_path):
    (tmp_path / "ab.txt").write_text("abcd" * 300, encoding="utf-8")
    train(make_config("gpt", data=str(tmp_path / "ab.txt"), out=str(tmp_path / "run"), steps=1, n_layer=1, n_head=2,
                      n_embd=16, block_size=8, batch_size=2, eval_interval=0), progress=False, echo=lambda line: None)
    proc = subprocess.Popen(sample_command(tmp_path / "run" / "checkpoint.safetensors", tokens=10**7),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        got, deadline = b"", time.monotonic() + 60
        while len(got) < 50 and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 1)[0]:
                got += os.read(proc.stdout.fileno(), 4096)
        assert len(got) >= 50 and proc.poll() is None  # text arrives while ten million characters are still to come
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("kind, sizes", [("bigram", {}), ("mlp", dict(block_size=4)), ("gpt", dict(block_size=6))])
def test_each_token_costs_the_same_the_model_sees_at_most_its_context(kind, sizes):
    small = dict(n_layer=1, n_head=1, n_embd=4) if kind == "gpt" else {}
    model = build_model(kind, {"vocab_size": 5, **sizes, **small})
    seen = []
    forward = model.forward

    def spying(idx, targets=None):
        seen.append(np.asarray(idx).shape)
        return forward(idx, targets)

    model.forward = spying
    prompt = np.zeros((2, 3), dtype=np.int64)
    tokens = list(generate_tokens(model, prompt, 30, rng=0))
    assert len(tokens) == 30 and all(t.shape == (2,) for t in tokens)
    assert max(shape[1] for shape in seen) == model.context_size and {shape[0] for shape in seen} == {2}
    seen.clear()
    out = generate(model, prompt, 30, rng=0)
    assert out.shape == (2, 33) and np.array_equal(out[:, 3:], np.stack(tokens, axis=1))


def test_logits_that_are_not_numbers_are_refused():
    for logits in ([[0.0, np.nan]], [[np.inf, 0.0]], [[-np.inf, -np.inf]]):
        with pytest.raises(SamplingError, match="not numbers it can sample from"):
            sample_next(np.array(logits), rng=0)
    assert sample_next(np.array([[-np.inf, 0.0]]), rng=0)[0] == 1


def test_a_tiny_temperature_is_greedy_without_warnings():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # what numpy warns about by default
        assert sample_next(np.array([[1.0, 3.0, 2.0]]), temperature=1e-300, rng=0)[0] == 1
