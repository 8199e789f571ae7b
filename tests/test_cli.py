"""The ``stepgrad`` command line, end to end through subprocesses (``python -m models ...``).

Everything runs in tmp_path on small generated text, except the demo, which
trains on the tiny Shakespeare that ships with the package, with the network
switched off.
"""

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.linreg import least_squares, make_data
from models.linreg_run import DEFAULT_LRS, Diverged, default_lr, run_linreg
from models.metrics import read_metrics
from optim import OPTIMIZERS
from optim_cases import CASES
from cli_runs import one_line_error as assert_one_line_error

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
TINY_BIGRAM = ["--model", "bigram", "--batch-size", "4", "--block-size", "8", "--no-progress"]


NO_NETWORK = """import socket


def _no_network(*args, **kwargs):
    raise OSError("the network is switched off in this test")


socket.socket = socket.create_connection = socket.getaddrinfo = _no_network
"""


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, PYTHONPATH=str(ROOT))


@pytest.fixture
def offline_env(tmp_path, env):
    """``env`` with every socket refused: a sitecustomize that replaces socket's constructors."""
    blocker = tmp_path / "offline"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
    return dict(env, PYTHONPATH=os.pathsep.join([str(blocker), str(ROOT)]))


@pytest.fixture
def stepgrad(tmp_path, env):
    """Run ``python -m models ARGS`` in tmp_path; return the CompletedProcess."""
    def run(*args, timeout=120):
        return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path




def thetas(stdout, label):
    match = re.search(rf"^{label}.*?\s(-?\d+\.\d+)\s+(-?\d+\.\d+)$", stdout, re.MULTILINE)
    assert match, stdout
    return float(match.group(1)), float(match.group(2))


# ------------------------------------------------------------------ linreg

def numpy_gradient_descent(x, y, lr, steps):
    """The seed's loop written out in float32 numpy: theta <- theta - lr * dMSE/dtheta."""
    theta0, theta1 = np.float32(0), np.float32(0)
    for _ in range(steps):
        err = theta0 + theta1 * x - y  # (100,)
        theta0 = theta0 - np.float32(lr) * np.float32(2) * err.mean()
        theta1 = theta1 - np.float32(lr) * np.float32(2) * (err * x).mean()
    return theta0, theta1


def numpy_mse(x, y, theta0, theta1):
    err = theta0 + theta1 * x - y  # (100,)
    return float((err * err).mean())


def test_linreg_default_run_matches_handwritten_gradient_descent(stepgrad):
    proc = stepgrad("linreg")
    assert proc.returncode == 0, proc.stderr
    loss_lines = [line for line in proc.stdout.splitlines() if line.startswith("step")]
    assert [int(line.split()[1]) for line in loss_lines] == list(range(100, 1001, 100))
    x, y = make_data(100, 0)
    expected = numpy_gradient_descent(x, y, 0.01, 1000)
    assert thetas(proc.stdout, r"sgd \(1000 steps\)") == pytest.approx(expected, abs=2e-5)
    assert thetas(proc.stdout, "least squares") == pytest.approx(least_squares(x, y), abs=1e-6)


def test_linreg_loss_lines_say_which_loss_each_is(stepgrad):
    """'step 1000 loss' is the loss update 1000 starts from; 'final loss' the one after it: both labelled."""
    proc = stepgrad("linreg")
    assert proc.returncode == 0, proc.stderr
    x, y = make_data(100, 0)
    first = re.search(r"^step +100  loss (\d\.\d+)  \(the loss this step starts from, before its update\)$",
                      proc.stdout, re.MULTILINE)
    assert first, proc.stdout
    assert float(first.group(1)) == pytest.approx(numpy_mse(x, y, *numpy_gradient_descent(x, y, 0.01, 99)), abs=2e-6)
    last = re.search(r"^step +1000  loss (\d\.\d+)$", proc.stdout, re.MULTILINE)
    assert float(last.group(1)) == pytest.approx(numpy_mse(x, y, *numpy_gradient_descent(x, y, 0.01, 999)), abs=2e-6)
    final = re.search(r"^final loss (\d\.\d+)  \(after update 1000, at the thetas below\)$", proc.stdout,
                      re.MULTILINE)
    assert final, proc.stdout
    assert float(final.group(1)) == pytest.approx(numpy_mse(x, y, *numpy_gradient_descent(x, y, 0.01, 1000)),
                                                  abs=2e-6)
    assert float(final.group(1)) < float(last.group(1))


@pytest.mark.parametrize("seed", [0, 7])
def test_linreg_divergence_stops_naming_the_stable_limit_from_the_data(stepgrad, seed):
    proc = stepgrad("linreg", "--lr", "1.0", "--steps", "200", "--seed", seed)
    x, _ = make_data(100, seed)
    x = x.astype(np.float64)
    lambda_max = np.linalg.eigvalsh(2 * np.array([[1, x.mean()], [x.mean(), (x * x).mean()]]))[-1]
    assert_one_line_error(proc, "the loss diverged with sgd at lr 1:", f"stable only for lr < 2/lambda_max = "
                          f"{2 / lambda_max:.3f}", "try a smaller --lr (sgd's default is 0.01)")
    assert "nan" not in proc.stdout and "final loss" not in proc.stdout


@pytest.mark.filterwarnings("error")  # no numpy overflow warning on the way
@pytest.mark.parametrize("lr, diverges", [(0.78, False), (0.79, True)])
def test_linreg_divergence_limit_is_sharp(lr, diverges):
    """2/lambda_max = 0.783 on the seed's data: just below it converges, just above it is stopped."""
    if diverges:
        with pytest.raises(Diverged, match="past 1000x its start"):
            run_linreg("sgd", lr=lr, echo=lambda line: None)
    else:
        assert run_linreg("sgd", lr=lr, echo=lambda line: None).final_loss == pytest.approx(0.094033, abs=1e-6)


def test_linreg_non_finite_loss_is_one_line_and_no_numpy_warning(stepgrad):
    proc = stepgrad("linreg", "--lr", "1e30")
    assert_one_line_error(proc, "from 7.043 to inf in 1 step (not a finite number)")
    proc = stepgrad("linreg", "--optimizer", "lbfgs", "--lr", "50")
    assert_one_line_error(proc, "the loss diverged with lbfgs at lr 50", "lbfgs's default is 1")


def test_linreg_with_tol_stops_near_least_squares_and_reports_the_step_count(stepgrad):
    proc = stepgrad("linreg", "--tol", "1e-7")
    assert proc.returncode == 0, proc.stderr
    steps = int(re.search(r"converged after (\d+) steps", proc.stdout).group(1))
    assert 100 < steps < 100_000
    assert thetas(proc.stdout, rf"sgd \({steps} steps\)") == pytest.approx(
        least_squares(*make_data(100, 0)), abs=0.05)


def test_linreg_newton_lands_on_least_squares_in_one_step(stepgrad, tmp_path):
    proc = stepgrad("linreg", "--optimizer", "newton", "--steps", "1", "--out", "lin")
    assert proc.returncode == 0, proc.stderr
    assert thetas(proc.stdout, r"newton \(1 step\)") == pytest.approx(least_squares(*make_data(100, 0)), abs=1e-4)
    for name in ("linreg.png", "loss.png"):
        assert (tmp_path / "lin" / name).read_bytes().startswith(b"\x89PNG")
    assert [r["step"] for r in read_metrics(tmp_path / "lin" / "metrics.jsonl")] == [1]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_optimizer_fits_the_line(case):
    """At the rate its row in tests/optim_cases.py gives, or linreg's default for it (None)."""
    result = run_linreg(case.name, lr=case.linreg_lr, steps=300, echo=lambda line: None)
    assert result.steps == 300 and len(result.losses) == 301
    assert result.losses[0] > 7 and result.final_loss < 0.13  # least squares: 0.094


@pytest.mark.parametrize("name", sorted(set(DEFAULT_LRS) - {"sgd"}))
def test_default_lr_reaches_least_squares_in_the_default_steps(name):
    """Within 1000 steps each default gets the loss to least squares' (AdamW: to its weight-decayed minimum)."""
    x, y = make_data(100, 0)
    result = run_linreg(name, echo=lambda line: None)
    assert result.final_loss == pytest.approx(numpy_mse(x, y, *least_squares(x, y)), abs=2e-5)


def test_linreg_help_states_each_optimizers_default_lr_and_sgd_keeps_the_guides(stepgrad):
    assert DEFAULT_LRS["sgd"] == 0.01 and set(DEFAULT_LRS) <= set(OPTIMIZERS)
    help_text = " ".join(stepgrad("linreg", "--help").stdout.split())
    assert "default per optimizer: " + ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LRS.items()) in help_text
    proc = stepgrad("linreg", "--optimizer", "adam", "--steps", "1")
    assert f"adam, lr {DEFAULT_LRS['adam']:g}, 1 step" in proc.stdout


# ------------------------------------------------------------------ train, sample, resume

def test_train_then_sample(stepgrad, tmp_path, corpus):
    proc = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "30", "--eval-interval", "10",
                    "--out", "run")
    assert proc.returncode == 0, proc.stderr
    assert "step 30: train loss" in proc.stdout and "Traceback" not in proc.stderr
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"metrics.jsonl", "checkpoint.safetensors", "loss.png"}
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert len(records) == 30 and [r["step"] for r in records if "val_loss" in r] == [10, 20, 30]

    sample = stepgrad("sample", "--checkpoint", "run/checkpoint.safetensors", "--prompt", "the ",
                      "--tokens", "40", "--seed", "3")
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("the ") and len(sample.stdout) == len("the ") + 40 + 1
    assert set(sample.stdout[:-1]) <= set(TEXT)
    again = stepgrad("sample", "--checkpoint", "run/checkpoint.safetensors", "--prompt", "the ",
                     "--tokens", "40", "--seed", "3")
    assert again.stdout == sample.stdout
    unprompted = stepgrad("sample", "--checkpoint", "run/checkpoint.safetensors", "--tokens", "5")
    assert unprompted.returncode == 0 and unprompted.stdout.startswith("\n") and len(unprompted.stdout) == 7


INTERRUPTED_WHILE_LOADING = """
import importlib.abc, sys
class Interrupt(importlib.abc.MetaPathFinder):  # Ctrl-C as numpy starts to load
    def find_spec(self, name, path, target=None):
        if name == "numpy":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
from models.start import main
sys.exit(main())
"""


def test_ctrl_c_while_the_command_is_still_loading_ends_with_one_line(tmp_path, env):
    proc = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_LOADING], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (130, "", "stepgrad: interrupted\n")


def test_importing_models_loads_no_model_until_one_is_asked_for(tmp_path, env):
    code = ("import sys, models; print('numpy' in sys.modules, 'engine' in sys.modules); "
            "from models import GPT; print(GPT.__module__, 'engine' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.split() == ["False", "False", "models.gpt", "True"], proc.stderr


def test_ctrl_c_saves_and_resume_continues_exactly(stepgrad, tmp_path, corpus, env):
    args = ["train", *TINY_BIGRAM, "--data", str(corpus), "--steps", "4000", "--eval-interval", "0"]
    proc = subprocess.Popen([sys.executable, "-m", "models", *args, "--out", "split"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "split" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.stat().st_size > 2000) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert re.search(r"^stepgrad: interrupted at step \d+; checkpoint saved; continue with: "
                     r"stepgrad train --out split --resume$", stderr, re.MULTILINE), stderr
    assert 0 < len(read_metrics(metrics)) < 4000

    resumed = stepgrad("train", "--out", "split", "--resume", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    whole = stepgrad(*args, "--out", "whole")
    assert whole.returncode == 0, whole.stderr
    split_losses = [r["loss"] for r in read_metrics(metrics)]
    assert split_losses == [r["loss"] for r in read_metrics(tmp_path / "whole" / "metrics.jsonl")]
    assert len(split_losses) == 4000


def test_a_new_run_refuses_a_folder_holding_another_runs_checkpoint(stepgrad, tmp_path, corpus):
    first = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "4", "--out", "run")
    assert first.returncode == 0, first.stderr
    saved = (tmp_path / "run" / "checkpoint.safetensors").read_bytes()
    again = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "2", "--out", "run")
    assert_one_line_error(again, "run holds another run's checkpoint.safetensors", "--resume", "--overwrite")
    assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == saved
    assert len(read_metrics(tmp_path / "run" / "metrics.jsonl")) == 4

    replaced = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "2", "--out", "run", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2]
    both = stepgrad("train", "--out", "run", "--resume", "--overwrite")
    assert both.returncode == 2 and "not allowed with argument --resume" in both.stderr


def test_train_divergence_is_one_line_saying_what_to_try(stepgrad, corpus):
    proc = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "20", "--optimizer", "sgd", "--lr", "1e5",
                    "--warmup-steps", "0", "--min-lr", "0", "--grad-clip", "0", "--out", "run")
    assert_one_line_error(proc, "uniform guess", "the updates are too large", "try 10000", "--grad-clip 1")


# ------------------------------------------------------------------ bad input

@pytest.fixture
def checkpoint(stepgrad, corpus, tmp_path):
    proc = stepgrad("train", *TINY_BIGRAM, "--data", corpus, "--steps", "2", "--out", "good")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "good" / "checkpoint.safetensors"


def test_damaged_or_foreign_checkpoints_are_refused_in_one_line(stepgrad, checkpoint, tmp_path):
    raw = bytearray(checkpoint.read_bytes())
    raw[-5] ^= 0xFF  # flip bits inside the last tensor
    (tmp_path / "flipped.st").write_bytes(bytes(raw))
    (tmp_path / "cut.st").write_bytes(bytes(raw[:len(raw) // 2]))
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04\x95junk")
    cases = {"flipped.st": "checksum mismatch", "cut.st": "truncated or damaged",
             "pickle.pt": "looks like a Python pickle", "missing.st": "file not found"}
    for name, problem in cases.items():
        assert_one_line_error(stepgrad("sample", "--checkpoint", name), name, problem)


def test_prompt_outside_the_vocabulary_is_one_line(stepgrad, checkpoint):
    assert_one_line_error(stepgrad("sample", "--checkpoint", checkpoint, "--prompt", "Zürich"),
                          "prompt contains characters not in the vocabulary: 'Z', 'ü'")


def test_bad_data_is_reported_in_one_line(stepgrad, tmp_path, corpus):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "short.txt").write_text("abcdefghij" * 3)
    (tmp_path / "blocker").write_text("a file, not a directory")
    cases = [
        (["--data", "missing.txt"], "data file not found: missing.txt"),
        (["--data", "empty.txt"], "data file is empty: empty.txt"),
        (["--data", tmp_path], "data path is a directory"),
        (["--data", "short.txt", "--block-size", "8"], "corpus too short for block size 8"),
        (["--data", corpus, "--out", "blocker/run"], "cannot write to output directory blocker/run"),
        (["--data", corpus, "--n-layer", "2"], "--n-layer does not apply to the bigram model"),
        (["--data", corpus, "--optimizer", "sgd", "--lr", "1", "--min-lr", "2"], "--min-lr 2 is larger"),
        (["--data", corpus, "--out", "nowhere", "--resume"], "nothing to resume"),
    ]
    for args, problem in cases:
        assert_one_line_error(stepgrad("train", "--model", "bigram", *args), problem)


@pytest.mark.parametrize("args, problem", [
    (["train", "--model", "transformer"], "argument --model: invalid choice: 'transformer'"),
    (["train", "--steps", "-5"], "argument --steps: '-5' is not a positive integer"),
    (["train", "--lr", "0"], "argument --lr: '0' is not a positive number"),
    (["train", "--dropout", "1.5"], "argument --dropout: '1.5' is not a probability in [0, 1)"),
    (["linreg", "--lr", "nan"], "argument --lr: 'nan' is not a positive number"),
    (["sample"], "one of the arguments --checkpoint --pretrained is required"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_usage_errors_exit_2_with_usage_and_one_line(stepgrad, args, problem):
    proc = stepgrad(*args)
    assert proc.returncode == 2
    usage, message = proc.stderr.strip().splitlines()
    assert usage.startswith("usage: stepgrad")
    assert message.startswith("stepgrad") and ": error: " in message and problem in message


#: what each command needs besides a mistyped option, so that the option is its only problem
COMMAND_ARGS = {
    "linreg": [], "train": [], "sample": ["--checkpoint", "run.safetensors"], "graph": [], "optimizers": [],
    "explore": [], "demo": [], "export": ["--checkpoint", "run.safetensors", "--to", "nanogpt", "-o", "out"],
    "import": ["ckpt.pt", "-o", "run.safetensors"], "exercise": ["1", "solution.py"],
}


def test_the_mistyped_option_cases_cover_every_command(stepgrad):
    choices = re.search(r"invalid choice: 'fly' \(choose from (.*?)\)", stepgrad("fly").stderr)
    assert choices and re.findall(r"'([a-z]+)'", choices.group(1)) == list(COMMAND_ARGS)


@pytest.mark.parametrize("command", COMMAND_ARGS)
def test_a_mistyped_option_gives_its_commands_usage_and_names_the_option(stepgrad, command):
    proc = stepgrad(command, *COMMAND_ARGS[command], "--itres", "5")
    assert proc.returncode == 2, proc.stderr
    usage, message = proc.stderr.strip().splitlines()  # two lines: no traceback
    assert usage.startswith(f"usage: stepgrad {command} "), usage
    assert message == f"stepgrad {command}: error: unrecognized arguments: --itres 5 (see 'stepgrad {command} --help')"


def test_every_command_has_help_with_an_example(stepgrad):
    for command in ("linreg", "train", "sample", "graph", "optimizers", "explore", "demo", "exercise"):
        proc = stepgrad(command, "--help")
        assert proc.returncode == 0 and "example: stepgrad " + command in proc.stdout, command
    assert "converged: |loss - previous loss| < TOL" in " ".join(stepgrad("linreg", "--help").stdout.split())


# ------------------------------------------------------------------ pictures and the demo

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")


@needs_dot
def test_graph_writes_each_format(stepgrad, tmp_path):
    assert stepgrad("graph", "--model", "linreg", "-o", "lin.svg").returncode == 0
    assert "<svg" in (tmp_path / "lin.svg").read_text()
    assert stepgrad("graph", "--model", "bigram", "--format", "png").returncode == 0
    assert (tmp_path / "bigram-graph.png").read_bytes().startswith(b"\x89PNG")
    assert stepgrad("graph", "--model", "gpt", "-o", "gpt.dot").returncode == 0
    dot = (tmp_path / "gpt.dot").read_text()
    assert dot.startswith("digraph") and "cross_entropy" in dot


def test_graph_of_linreg_names_x_and_y_and_frames_the_loss_as_mse(stepgrad, tmp_path):
    assert stepgrad("graph", "--model", "linreg", "-o", "lin.dot").returncode == 0
    dot = (tmp_path / "lin.dot").read_text()
    for name in ("x", "y", "theta0", "theta1", "prediction"):
        assert f"<B>{name}</B>" in dot, name
    frame = dot[dot.index("subgraph cluster_"):]
    assert 'label=<<B>mse</B>>' in frame and "<B>loss</B>&#160;=&#160;<B>mul</B>" in frame  # the loss sits in the frame
    assert "<B>sub</B>" in frame and "<B>sum</B>" in frame


def test_graph_options_view_check_depth_and_max_nodes(stepgrad, tmp_path):
    assert stepgrad("graph", "--model", "linreg", "--view", "backward", "--check", "-o", "b.dot").returncode == 0
    backward = (tmp_path / "b.dot").read_text()
    assert "backward view" in backward and backward.count("grad check: ok") == 2 and "grad check: wrong" not in backward
    assert "sum to ()" in backward
    assert stepgrad("graph", "--model", "gpt", "--depth", "1", "-o", "g1.dot").returncode == 0
    assert "collapsed at depth=1 " in (tmp_path / "g1.dot").read_text()
    assert stepgrad("graph", "--model", "mlp", "--depth", "all", "-o", "all.dot").returncode == 0
    assert "collapsed" not in (tmp_path / "all.dot").read_text()
    too_many = stepgrad("graph", "--model", "gpt", "--depth", "all", "--max-nodes", "50", "-o", "x.dot")
    assert_one_line_error(too_many, "the gpt graph would have 90 nodes, more than --max-nodes 50",
                          "--depth 3 gives 14", "raise --max-nodes")
    bad = stepgrad("graph", "--depth", "0")
    assert bad.returncode == 2 and "argument --depth: '0' is not 'auto', 'all' or a positive integer" in bad.stderr


def test_graph_captions_advise_on_depth_with_the_flag_not_python(stepgrad, tmp_path):
    assert stepgrad("graph", "--model", "gpt", "-o", "gpt.dot").returncode == 0
    dot = (tmp_path / "gpt.dot").read_text()
    assert "automatically collapsed at depth=4 (90 nodes in full; --depth all draws everything, a bigger --depth " \
           "shows more)" in dot
    assert "depth=None" not in dot and "depth= " not in dot


@needs_dot
def test_a_whole_gpt_is_svg_by_default_and_a_png_only_at_a_readable_depth(stepgrad, tmp_path):
    svg = stepgrad("graph", "--model", "gpt")
    assert svg.returncode == 0 and svg.stdout.strip() == "wrote gpt-graph.svg"
    assert "automatically collapsed at depth=4" in (tmp_path / "gpt-graph.svg").read_text()
    png = stepgrad("graph", "--model", "gpt", "-o", "gpt.png")
    assert png.returncode == 0, png.stderr
    assert "modules collapsed at depth 3 so that its text stays readable" in png.stdout
    width, height = struct.unpack(">II", (tmp_path / "gpt.png").read_bytes()[16:24])
    assert min(1920 / width, 1080 / height) >= 0.6  # shown whole on a 1920x1080 screen, shrunk to 60% at most
    small = stepgrad("graph", "--model", "linreg", "-o", "lin.png")
    assert small.stdout.strip() == "wrote lin.png"  # already readable: drawn as it is


def test_optimizers_picture(stepgrad, tmp_path):
    proc = stepgrad("optimizers", "-o", "paths.png", "--steps", "20")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "paths.png").read_bytes().startswith(b"\x89PNG")


def test_demo_trains_on_shakespeare_offline_and_lists_what_it_wrote(tmp_path, offline_env):
    refused = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('1.1.1.1', 80))"],
                             env=offline_env, capture_output=True, text=True, timeout=60)
    assert "the network is switched off" in refused.stderr  # the blocker works
    proc = subprocess.run([sys.executable, "-m", "models", "demo", "--out", "tour", "--steps", "2", "--eval-iters",
                           "1", "--sample-tokens", "20"], cwd=tmp_path, env=offline_env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "on shakespeare: 1,003,854 train / 111,540 val characters, vocabulary 65" in proc.stdout
    assert "sgd (1000 steps)" in proc.stdout and "least squares" in proc.stdout
    summary = proc.stdout[proc.stdout.index("== done in"):]
    for name in ("linreg/linreg.png", "linreg/loss.png", "linreg/backprop.html", "gpt/loss.png", "gpt/stats.png",
                 "gpt/metrics.jsonl", "gpt/checkpoint.safetensors", "gpt/sample.txt", "gpt-graph.svg",
                 "gpt-graph.png"):
        assert (tmp_path / "tour" / name).stat().st_size > 0, name
        assert f"tour/{name}" in summary, name
    assert len((tmp_path / "tour" / "gpt" / "sample.txt").read_text()) == 21


@pytest.fixture(scope="module")
def demo_without_dot(tmp_path_factory):
    """A two-step demo run with Graphviz's ``dot`` hidden from PATH: ``(its folder, the CompletedProcess)``."""
    cwd = tmp_path_factory.mktemp("demo-without-dot")
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if not (Path(d) / "dot").exists())
    env = dict(os.environ, PATH=path, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "models", "demo", "--out", "tour", "--steps", "2", "--eval-iters",
                           "1", "--sample-tokens", "20"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return cwd / "tour", proc


def test_the_demo_without_graphviz_lists_each_file_once_and_says_how_to_draw_the_graph(demo_without_dot):
    tour, proc = demo_without_dot
    summary = proc.stdout[proc.stdout.index("== done in"):].splitlines()
    listed = [line.split()[0] for line in summary if line.startswith("  tour/")]
    assert len(listed) == len(set(listed)), listed
    assert [name for name in listed if "graph" in name] == ["tour/gpt-graph.dot"]
    assert sorted(p.name for p in tour.glob("gpt-graph*")) == ["gpt-graph.dot"]
    line = next(line for line in summary if "tour/gpt-graph.dot" in line)
    assert "DOT text, not drawn: Graphviz is not installed" in line and "vector picture" not in line
    hint = [line for line in summary if "install Graphviz" in line]
    assert len(hint) == 1 and "apt-get install graphviz" in hint[0]
    assert "dot -Tsvg tour/gpt-graph.dot -o tour/gpt-graph.svg" in hint[0]
    assert "Graphviz's `dot` program is not installed" in proc.stderr


def test_the_demo_draws_the_gpt_it_trained_not_a_fresh_one(demo_without_dot):
    from models.graph_cmd import checkpoint_loss, model_loss

    tour, _ = demo_without_dot
    dot = (tour / "gpt-graph.dot").read_text()
    label = dot[dot.index("<B>loss</B>&#160;=&#160;"):]
    shown = float(re.search(r"<I>data</I>&#160;([-\d.]+)", label).group(1))  # the loss, to four digits
    trained = checkpoint_loss(tour / "gpt" / "checkpoint.safetensors")[0].item()  # the same batch
    assert shown == pytest.approx(trained, abs=6e-4)
    assert shown != pytest.approx(model_loss("gpt")[0].item(), abs=6e-4)  # a fresh GPT's 4.218, about ln 65


def test_an_optimizer_without_a_tuned_rate_uses_its_own_default_lr(tmp_path):
    (tmp_path / "slow.py").write_text("from optim import SGD\n\n\nclass Slow(SGD):\n"
                                      "    def __init__(self, params, lr=0.003):\n"
                                      "        super().__init__(params, lr=lr)\n")
    assert default_lr(f"{tmp_path / 'slow.py'}:Slow") == 0.003
    assert default_lr("ADAM") == DEFAULT_LRS["adam"]


@pytest.mark.parametrize("variable, value, says", [
    ("STEPGRAD_NUM_THREADS", "abc", "ignoring STEPGRAD_NUM_THREADS='abc', which is not a whole number"),
    ("STEPGRAD_NUM_THREADS", "999", "STEPGRAD_NUM_THREADS='999' is more than the"),
    ("STEPGRAD_BACKEND", "cuda", "ignoring STEPGRAD_BACKEND='cuda'"),
])
def test_an_ignored_setting_is_one_warning_line_and_the_command_runs(variable, value, says, tmp_path, env):
    proc = subprocess.run([sys.executable, "-m", "models", "linreg", "--steps", "2"], cwd=tmp_path,
                          env=dict(env, **{variable: value}), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(f"stepgrad: warning: {says}") and proc.stderr.count("\n") == 1, proc.stderr
