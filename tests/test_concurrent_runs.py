"""Two runs into one --out folder: the second is refused at once, the first is untouched, and the lock never outlives
its process."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.metrics import read_metrics
from models.run_folder import locked_out_dir
from models.train_config import TrainError

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
LONG_RUN = ["--model", "gpt", "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "8",
            "--batch-size", "4", "--eval-interval", "0", "--no-progress"]


@pytest.fixture
def start(tmp_path):
    """Start ``python -m models ARGS`` in tmp_path without waiting; returns the Popen."""
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = []

    def launch(*args):
        proc = subprocess.Popen([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield launch
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for_steps(metrics, n, proc, timeout=60):
    """Wait until `metrics` holds at least `n` records (the run is past its start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if metrics.exists() and len(read_metrics(metrics)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the run did not start")


def test_a_second_run_into_the_same_folder_is_refused_and_the_first_goes_on(start, tmp_path):
    first = start("train", *LONG_RUN, "--eval-interval", "2", "--eval-iters", "1", "--data", "corpus.txt",
                  "--out", "run", "--steps", "100000")  # a checkpoint every 2 steps, for --resume to find
    wait_for_steps(tmp_path / "run" / "metrics.jsonl", 3, first)
    for args in (["train", *LONG_RUN, "--data", "corpus.txt", "--out", "run", "--steps", "5"],
                 ["train", "--out", "run", "--resume", "--no-progress"]):
        second = start(*args)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 1 and err.strip().splitlines() == [
            "stepgrad: error: another stepgrad run is writing to run (it holds the folder's lock); wait for it to "
            "end, or choose another --out"], err
        assert first.poll() is None, first.communicate()  # still training, however long the refusal took
    first.send_signal(signal.SIGTERM)  # it stops when told: after its step, with a checkpoint
    out, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    steps = [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    assert len(steps) >= 3 and steps == list(range(1, len(steps) + 1))  # the refused runs wrote nothing there


def test_resuming_a_folder_whose_run_is_just_starting_names_that_run_not_the_missing_checkpoint(start, tmp_path):
    """A run holds the folder's lock from its start, before its first checkpoint: resuming then is refused for
    the run, as when it has a checkpoint, not with 'nothing to resume'."""
    (tmp_path / "run").mkdir()
    with locked_out_dir(tmp_path / "run"):  # a run just starting: locked, no checkpoint yet
        resume = start("train", "--out", "run", "--resume", "--no-progress")
        out, err = resume.communicate(timeout=120)
    assert resume.returncode == 1 and err.strip().splitlines() == [
        "stepgrad: error: another stepgrad run is writing to run (it holds the folder's lock); wait for it to "
        "end, or choose another --out"], err
    resume = start("train", "--out", "run", "--resume", "--no-progress")  # the lock gone: nothing to resume
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 1 and err.strip() == "stepgrad: error: nothing to resume: " \
        "run/checkpoint.safetensors does not exist", err
    assert os.listdir(tmp_path / "run") == []  # neither left anything there


def test_the_lock_goes_with_a_killed_run(start, tmp_path):
    first = start("train", *LONG_RUN, "--data", "corpus.txt", "--out", "run", "--steps", "100000")
    wait_for_steps(tmp_path / "run" / "metrics.jsonl", 3, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    fresh = start("train", *LONG_RUN, "--data", "corpus.txt", "--out", "run", "--steps", "2")
    out, err = fresh.communicate(timeout=120)
    assert fresh.returncode == 0, err


def test_the_lock_is_held_for_the_with_block_only(tmp_path):
    (tmp_path / "run").mkdir()
    with locked_out_dir(tmp_path / "run") as out:
        assert out == tmp_path / "run" and out.is_dir()
        with pytest.raises(TrainError, match="another stepgrad run is writing to"):
            with locked_out_dir(tmp_path / "run"):
                pass
    with locked_out_dir(tmp_path / "run"):
        pass
    assert os.listdir(tmp_path / "run") == []  # the lock leaves nothing in the folder


def test_a_folder_the_lock_made_is_removed_if_left_empty(tmp_path):
    with locked_out_dir(tmp_path / "made") as out:
        assert out.is_dir()
    assert not (tmp_path / "made").exists()  # a run refused before writing anything leaves no trace
    with locked_out_dir(tmp_path / "written") as out:
        (out / "metrics.jsonl").write_text("{}\n")
    assert (tmp_path / "written" / "metrics.jsonl").exists()
