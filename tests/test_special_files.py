"""Special files: only regular files are read (a FIFO cannot hang a run, /dev/zero cannot fill memory), data files
have a size limit, and nothing is written through a symbolic link."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runs import one_line_error, runner

from engine.files import FileCheckError, atomic_write_bytes, read_regular_file
from models.metrics import MetricsError, MetricsWriter, read_metrics

ROOT = Path(__file__).resolve().parent.parent
TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.\n" * 40
TINY = ["--model", "bigram", "--batch-size", "4", "--block-size", "8", "--no-progress", "--eval-interval", "0"]


@pytest.fixture
def stepgrad(tmp_path):
    (tmp_path / "corpus.txt").write_text(TEXT, encoding="utf-8")
    return runner(tmp_path, timeout=120)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special, fragment", [
    ("/dev/zero", "data file /dev/zero is a character device, not a regular file"),
    ("/dev/urandom", "data file /dev/urandom is a character device, not a regular file"),
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("link-to-zero", "data file link-to-zero is a character device, not a regular file"),
])
def test_data_that_is_not_a_regular_file_is_refused_at_once(stepgrad, tmp_path, fifo, special, fragment):
    os.symlink("/dev/zero", tmp_path / "link-to-zero")
    proc = stepgrad("train", *TINY, "--data", special, "--out", "run", "--steps", "1")
    one_line_error(proc, fragment)
    assert proc.seconds < 30  # not a hang: the process startup is the time


def test_a_data_file_above_the_limit_is_refused_and_the_flag_raises_it(stepgrad, tmp_path):
    size = len(TEXT.encode())
    proc = stepgrad("train", *TINY, "--data", "corpus.txt", "--out", "run", "--steps", "1", "--max-data-mb", "0.001")
    one_line_error(proc, f"data file corpus.txt is {size / 1000:.3g} kB, above the limit of 1 kB "
                         "(raise the limit with --max-data-mb)")
    proc = stepgrad("train", *TINY, "--data", "corpus.txt", "--out", "run", "--steps", "1", "--max-data-mb", "0.01")
    assert proc.returncode == 0, proc.stderr


def test_read_regular_file_reads_no_more_than_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert read_regular_file(path, 3) == b"abc"
    with pytest.raises(FileCheckError, match="3 bytes, above the limit of 2 bytes"):
        read_regular_file(path, 2)
    os.symlink(path, tmp_path / "link")
    assert read_regular_file(tmp_path / "link", 3) == b"abc"
    with pytest.raises(FileCheckError, match="a symbolic link"):
        read_regular_file(tmp_path / "link", 3, follow_links=False)


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_checkpoint_that_is_not_a_regular_file_is_refused_at_once(stepgrad, fifo, special):
    proc = stepgrad("sample", "--checkpoint", special)
    one_line_error(proc, "is a character device, not a regular file" if special == "/dev/zero"
                   else "is a FIFO (named pipe), not a regular file")


# ------------------------------------------------------------------ links

def test_a_link_in_place_of_metrics_is_replaced_never_followed(stepgrad, tmp_path):
    (tmp_path / "run").mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    os.symlink(victim, tmp_path / "run" / "metrics.jsonl")
    os.symlink(victim, tmp_path / "run" / "loss.png")
    proc = stepgrad("train", *TINY, "--data", "corpus.txt", "--out", "run", "--steps", "3")
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text(encoding="utf-8") == "keep me"
    for name in ("metrics.jsonl", "loss.png"):
        assert not (tmp_path / "run" / name).is_symlink()
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3]


def test_resume_refuses_a_link_in_place_of_metrics(stepgrad, tmp_path):
    assert stepgrad("train", *TINY, "--data", "corpus.txt", "--out", "run", "--steps", "2").returncode == 0
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    (tmp_path / "run" / "metrics.jsonl").unlink()
    os.symlink(victim, tmp_path / "run" / "metrics.jsonl")
    proc = stepgrad("train", "--out", "run", "--resume", "--no-progress", "--steps", "4")
    one_line_error(proc, "run/metrics.jsonl is a symbolic link, which stepgrad does not follow here")
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_metrics_writer_never_opens_through_a_link(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep", encoding="utf-8")
    os.symlink(victim, tmp_path / "m.jsonl")
    with MetricsWriter(tmp_path / "m.jsonl") as writer:
        writer.write(1, 1.0, 0.1, 2.0)
    assert victim.read_text(encoding="utf-8") == "keep" and not (tmp_path / "m.jsonl").is_symlink()
    os.unlink(tmp_path / "m.jsonl")
    os.symlink(victim, tmp_path / "m.jsonl")
    with pytest.raises(MetricsError, match="is a symbolic link"):
        MetricsWriter(tmp_path / "m.jsonl", append=True, resume_step=1)


def test_atomic_writes_replace_a_link_and_leave_its_target_alone(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    os.symlink(victim, tmp_path / "out.bin")
    atomic_write_bytes(tmp_path / "out.bin", b"new")
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "out.bin").is_symlink() and (tmp_path / "out.bin").read_bytes() == b"new"


@pytest.mark.parametrize("command", [["graph", "--model", "linreg", "-o", "out.svg"],
                                     ["graph", "--model", "linreg", "-o", "out.dot"],
                                     ["optimizers", "-o", "out.png", "--steps", "3"],
                                     ["explore", "-o", "out.html"]])
def test_pictures_and_pages_are_not_written_through_a_link(stepgrad, tmp_path, command):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me", encoding="utf-8")
    os.symlink(victim, tmp_path / command[command.index("-o") + 1])
    proc = stepgrad(*command)
    assert proc.returncode == 0, proc.stderr
    assert victim.read_text(encoding="utf-8") == "keep me"


# ------------------------------------------------------------------ full disk

@pytest.mark.parametrize("steps, file", [(2, "checkpoint.safetensors"), (500, "metrics.jsonl")])
def test_a_write_that_fails_names_the_file(stepgrad, tmp_path, steps, file):
    """A real failing write (the process may not grow files past 4 kB) ends with one line naming the file:
    the checkpoint of a short run, or the metrics of a long one (about 60 lines fill 4 kB)."""
    limit = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "
             "import sys; from models.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", limit, "train", *TINY, "--data", "corpus.txt", "--out", "run",
                           "--steps", str(steps)], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)
    one_line_error(proc, f"File too large: run/{file}")
    assert sorted(os.listdir(tmp_path / "run")) == ["metrics.jsonl"]  # no temporary file left behind


def test_a_full_disk_is_named(tmp_path, monkeypatch):
    import errno

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write_bytes(tmp_path / "checkpoint.safetensors", b"x" * 100)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "checkpoint.safetensors")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []
    with MetricsWriter(tmp_path / "metrics.jsonl") as writer:
        monkeypatch.setattr(writer._file, "flush", lambda: full(0))
        with pytest.raises(OSError) as info:
            writer.write(1, 1.0, 0.1, 2.0)
        monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "metrics.jsonl")
