"""docs/outgrowing.md is true: every `stepgrad` command of its runnable shell blocks runs, in order,
in one fresh folder, as a user would type it (blocks marked `no-run` need nanoGPT's checkout, a GPU
or the network; `tests/test_nanogpt.py` covers what nanoGPT's side does with the files)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_docs import read_blocks, stepgrad_commands

pytest.importorskip("torch", reason="PyTorch is not installed (the page's export and import need it)")

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "outgrowing.md"


def page_commands():
    """The argument lists of the page's runnable `stepgrad` lines, in page order."""
    return [argv for block in read_blocks(PAGE) if block.lang == "bash" and "no-run" not in block.flags
            for argv in stepgrad_commands(block)]


def test_the_page_has_the_whole_round_trip():
    commands = [argv[0] for argv in page_commands()]
    assert commands == ["train", "export", "import", "sample", "graph", "explore", "train"]


@pytest.mark.slow
def test_every_command_on_the_page_runs(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in page_commands():
        proc = subprocess.run([sys.executable, "-m", "models", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"stepgrad {' '.join(argv)}: {proc.stderr}"
    for name in ("nanoGPT/out-stepgrad/ckpt.pt", "nanoGPT/data/stepgrad/meta.pkl", "from-nanogpt.safetensors",
                 "from-nanogpt.html", "out-finetune/checkpoint.safetensors"):
        assert (tmp_path / name).is_file(), name
