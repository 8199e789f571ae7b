"""--resume from anywhere: the text is found by its absolute path or accepted under any path if its sha256
matches, and a damaged metrics.jsonl is repaired up to the checkpoint's step, saying what was dropped."""

import shutil

import pytest

from models.checkpoint import load_checkpoint
from models.data import DataError
from models.metrics import read_metrics
from models.train import TrainError, make_config, train
from models.train_config import config_from_checkpoint

CORPUS = "".join(f"{w} " for w in "to be or not to be that is the question whether tis nobler in the mind".split() * 60)


def run(config, **kwargs):
    lines = []
    result = train(config, progress=False, echo=lines.append, **kwargs)
    return result, lines


@pytest.fixture
def started(tmp_path, monkeypatch):
    """A 4-step bigram run of 8, begun in tmp_path/work with a relative --data path; returns the run's folder."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "tiny.txt").write_text(CORPUS, encoding="utf-8")
    monkeypatch.chdir(work)
    run(make_config("bigram", data="tiny.txt", out="run", steps=4, batch_size=4, block_size=8, eval_interval=0))
    return work / "run"


def uninterrupted(tmp_path):
    (tmp_path / "whole.txt").write_text(CORPUS, encoding="utf-8")
    result, _ = run(make_config("bigram", data=str(tmp_path / "whole.txt"), out=str(tmp_path / "whole"), steps=8,
                                batch_size=4, block_size=8, eval_interval=0))
    return [r["loss"] for r in read_metrics(tmp_path / "whole" / "metrics.jsonl")]


def test_the_checkpoint_stores_the_data_path_absolute(started):
    assert load_checkpoint(started / "checkpoint.safetensors")[1]["train_config"]["data"] == \
        str(started.parent / "tiny.txt")


def test_resume_from_another_working_directory(started, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, _ = run(config_from_checkpoint(started, steps=8), resume=True)
    assert result.step == 8
    assert [r["loss"] for r in read_metrics(started / "metrics.jsonl")] == uninterrupted(tmp_path)


def test_the_same_text_under_another_path_is_accepted_and_another_text_refused(started, tmp_path, monkeypatch):
    moved = tmp_path / "elsewhere" / "renamed.txt"
    moved.parent.mkdir()
    shutil.move(started.parent / "tiny.txt", moved)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="resuming needs the text the run was trained on: pass it with --data"):
        run(config_from_checkpoint(started, steps=8), resume=True)
    (tmp_path / "other.txt").write_text(CORPUS.replace("question", "answer!!"), encoding="utf-8")
    with pytest.raises(TrainError, match="the training text differs"):
        run(config_from_checkpoint(started, steps=8, data=str(tmp_path / "other.txt")), resume=True)
    result, _ = run(config_from_checkpoint(started, steps=8, data=str(moved)), resume=True)
    assert result.step == 8
    assert [r["loss"] for r in read_metrics(started / "metrics.jsonl")] == uninterrupted(tmp_path)


def test_a_damaged_metrics_line_is_dropped_and_named(started, tmp_path):
    path = started / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:20] + "#garbage"
    lines.insert(3, lines[0])  # a repeated step 1
    lines.append('{"step": 9, "loss": 1.0, "lr": 0.1, "ms": 1.0}')  # a step after the checkpoint's
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, echoed = run(config_from_checkpoint(started, steps=6), resume=True)
    assert result.step == 6
    assert f"note: {path}: kept 3 record(s); dropped 1 damaged line(s) (line 2), 1 record(s) whose step repeats " \
           "or goes back, 1 record(s) after step 4, the checkpoint's step" in echoed
    assert [r["step"] for r in read_metrics(path)] == [1, 3, 4, 5, 6]
