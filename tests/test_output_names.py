"""`-o FILE`: the file written is the file named, in the format its suffix names; a suffix the command cannot
write is a one-line error before any work."""

import os

import pytest
from cli_runs import one_line_error, runner


@pytest.fixture
def stepgrad(tmp_path):
    return runner(tmp_path)


@pytest.mark.parametrize("name, magic", [("lin.pdf", b"%PDF"), ("lin.svg", b"<?xml"), ("lin.PNG", b"\x89PNG"),
                                         ("lin.dot", b"digraph"), ("noext", b"<?xml")])
def test_graph_writes_the_named_file_in_the_format_its_suffix_names(stepgrad, tmp_path, name, magic):
    proc = stepgrad("graph", "--model", "linreg", "-o", name)
    assert proc.returncode == 0 and proc.stdout.strip() == f"wrote {name}", proc.stderr
    assert (tmp_path / name).read_bytes().startswith(magic)
    assert sorted(os.listdir(tmp_path)) == [name]


def test_graph_refuses_a_suffix_it_cannot_write(stepgrad, tmp_path):
    one_line_error(stepgrad("graph", "--model", "linreg", "-o", "lin.txt"),
                   "cannot write lin.txt: its suffix .txt names no format this command writes (svg, png, pdf, dot)")
    proc = stepgrad("graph", "--model", "linreg", "-o", "lin.txt", "--format", "dot")  # asked for: DOT in a .txt
    assert proc.returncode == 0 and (tmp_path / "lin.txt").read_text().startswith("digraph")


@pytest.mark.parametrize("name, magic", [("paths.svg", b"<?xml"), ("noext", b"\x89PNG")])
def test_optimizers_writes_the_named_file(stepgrad, tmp_path, name, magic):
    proc = stepgrad("optimizers", "-o", name, "--steps", "5")
    assert proc.returncode == 0 and proc.stdout.strip() == f"wrote {name}", proc.stderr
    assert (tmp_path / name).read_bytes().startswith(magic) and sorted(os.listdir(tmp_path)) == [name]


def test_optimizers_refuses_a_suffix_before_computing_anything(stepgrad, tmp_path):
    proc = stepgrad("optimizers", "-o", "paths.txt", "--steps", "100000")
    one_line_error(proc, "cannot write paths.txt: its suffix .txt names no format this command writes (")
    assert proc.seconds < 60 and os.listdir(tmp_path) == []
