"""Running `python -m models ...` in a test's folder, and checking a one-line error: shared by the CLI tests of
special files and output names."""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def runner(folder, timeout=300):
    """A function running `python -m models ARGS` in `folder`; its CompletedProcess also has `.seconds`."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args):
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=timeout)
        proc.seconds = time.monotonic() - start
        return proc
    return run


def one_line_error(proc, *fragments):
    """The command failed with status 1 and exactly one line `stepgrad: error: ...` containing each of `fragments`."""
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepgrad: error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
