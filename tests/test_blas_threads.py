"""OpenBLAS's idle spin is shortened when the engine is imported, whatever was imported first."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Prints the spin setting of every OpenBLAS loaded, after a matmul on 2 threads (which
# starts the worker threads anew when the engine stopped them), and checks the result.
PROBE = """
{first}
import numpy as np
from engine.blas_threads import loaded_openblas
libs = [lib for lib in loaded_openblas() if hasattr(lib, "openblas_thread_timeout")]
a = np.arange(256 * 256, dtype=np.float64).reshape(256, 256) % 7
assert np.array_equal(a @ a, np.einsum("ij,jk->ik", a, a))
print(" ".join(str(lib.openblas_thread_timeout()) for lib in libs) or "none")
"""


def _spin_settings(first, env_value=None):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OPENBLAS_NUM_THREADS"] = "2"
    if env_value is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = env_value
    done = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout.split()
    if out == ["none"]:
        pytest.skip("numpy does not use an OpenBLAS with thread-timeout entry points here")
    return out


@pytest.mark.parametrize("first", ["import numpy; import engine", "import engine", "import optim",
                                   "import models"])
def test_the_short_spin_applies_in_any_import_order(first):
    assert set(_spin_settings(first)) == {"18"}


def test_a_spin_the_user_set_is_kept():
    assert set(_spin_settings("import numpy; import engine", env_value="25")) == {"25"}
