"""SIGTERM (kill, docker stop, batch schedulers) is Ctrl-C: the run saves after the current step; a second signal
or one during a checkpoint write loses nothing; temporary files of a killed write are cleaned at the next start."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.checkpoint import load_checkpoint
from models.metrics import read_metrics

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
RUN = ["--model", "gpt", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "8", "--batch-size",
       "4", "--eval-interval", "0", "--no-progress", "--data", "corpus.txt", "--out", "run"]


@pytest.fixture
def env(tmp_path):
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")
    return dict(os.environ, PYTHONPATH=str(ROOT))


def stepgrad(tmp_path, env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def losses(path):
    return [r["loss"] for r in read_metrics(path)]


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_sigterm_saves_after_the_step_and_resume_continues_exactly(tmp_path, env):
    proc = subprocess.Popen([sys.executable, "-m", "models", "train", *RUN, "--steps", "400"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and len(read_metrics(metrics)) >= 5):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("stepgrad: terminated (SIGTERM) at step ") and "checkpoint saved" in line, err
    step = int(line.split("at step ")[1].split(";")[0])
    assert step < 400 and load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")[1]["step"] == step
    assert [r["step"] for r in read_metrics(metrics)] == list(range(1, step + 1))
    assert leftovers(tmp_path / "run") == []

    resumed = stepgrad(tmp_path, env, "train", "--out", "run", "--resume", "--no-progress", "--steps", "400")
    assert resumed.returncode == 0, resumed.stderr
    whole = stepgrad(tmp_path, env, "train", *RUN[:-1], "whole", "--steps", "400")
    assert whole.returncode == 0, whole.stderr
    assert losses(metrics) == losses(tmp_path / "whole" / "metrics.jsonl")


SIGNAL_DURING_WRITE = r"""
import io, os, signal, sys
from models import checkpoint
from models.cli import main

times = int(sys.argv[1])
plain = checkpoint.write_atomically
writes = []

def write_atomically(path, write):
    def interrupted(f):
        whole = io.BytesIO()
        write(whole)
        data = whole.getvalue()
        f.write(data[:len(data) // 2])           # half of the file is out
        for _ in range(times if not writes else 0):  # signals during the first write only
            os.kill(os.getpid(), signal.SIGTERM)
        writes.append(path)
        f.write(data[len(data) // 2:])
    return plain(path, interrupted)

checkpoint.write_atomically = write_atomically
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("signals", [1, 2])
def test_sigterm_during_a_checkpoint_write_leaves_a_whole_checkpoint_and_no_temporary_file(tmp_path, env, signals):
    assert stepgrad(tmp_path, env, "train", *RUN, "--steps", "3").returncode == 0
    before = (tmp_path / "run" / "checkpoint.safetensors").read_bytes()
    proc = subprocess.run([sys.executable, "-c", SIGNAL_DURING_WRITE, str(signals), "train", "--out", "run",
                           "--resume", "--no-progress", "--steps", "6", "--eval-interval", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 143, proc.stderr
    assert "Traceback" not in proc.stderr
    assert leftovers(tmp_path / "run") == []
    tensors, meta = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    if signals == 1:  # the write finished, then the run saved and stopped
        assert proc.stderr.strip().startswith("stepgrad: terminated (SIGTERM) at step 4;")
        assert meta["step"] == 4
    else:  # the second signal stopped the write: the previous checkpoint is intact
        assert proc.stderr.strip() == "stepgrad: terminated (SIGTERM)"
        assert (tmp_path / "run" / "checkpoint.safetensors").read_bytes() == before and meta["step"] == 3


def test_sigterm_outside_training_unwinds_without_a_traceback_or_a_partial_file(tmp_path, env):
    proc = subprocess.Popen([sys.executable, "-m", "models", "optimizers", "-o", "paths.png", "--steps", "100000"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and err.strip() == "stepgrad: terminated (SIGTERM)", err
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt"]


def test_the_next_run_removes_temporary_files_a_killed_write_left(tmp_path, env):
    run = tmp_path / "run"
    run.mkdir()
    stale = [".checkpoint.safetensors.a1b2c3d4.tmp", ".metrics.jsonl.zz_99xyz.tmp", ".loss.png.QwErTy12.tmp"]
    others = [".notes.txt.a1b2c3d4.tmp", "checkpoint.safetensors.tmp", ".checkpoint.safetensors.short.tmp"]
    for name in stale + others:
        (run / name).write_bytes(b"\0" * 1000)
    proc = stepgrad(tmp_path, env, "train", *RUN, "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    assert f"note: removed 3 temporary file(s) an interrupted run left in run: {', '.join(sorted(stale))}" \
        in proc.stdout
    assert leftovers(run) == sorted(others)
