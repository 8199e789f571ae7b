"""Importing the engine leaves malloc and OpenBLAS as they were; `engine.tune()` changes both,
whatever was imported before it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# After the given imports, prints what the process looks like to glibc and OpenBLAS: how many
# mmap'd blocks a 1 MiB malloc adds (0 once malloc keeps freed memory), the spin setting of
# every OpenBLAS loaded, after a matmul on 2 threads (which starts any stopped workers anew),
# and the environment variable OpenBLAS reads. It imports nothing of the engine's itself.
PROBE = """
{prelude}
import ctypes, json, os
import numpy as np

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                      "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
mmapped = libc.mallinfo2().hblks - before
libc.free(block)
a = np.arange(256 * 256, dtype=np.float64).reshape(256, 256) % 7
assert np.array_equal(a @ a, np.einsum("ij,jk->ik", a, a))
with open("/proc/self/maps") as maps:  # found here, not by the engine's code: the probe must not import it
    paths = sorted({{line.split(maxsplit=5)[-1].strip() for line in maps
                     if "openblas" in line.lower() and "/" in line}})
libs = [lib for lib in map(ctypes.CDLL, paths) if hasattr(lib, "openblas_thread_timeout")]
print(json.dumps({{"mmapped": mmapped, "spins": [lib.openblas_thread_timeout() for lib in libs],
                  "env": os.environ.get("OPENBLAS_THREAD_TIMEOUT"), "tuned": {tuned}}}))
"""


def probe(prelude, tuned="None", **env_values):
    """What `PROBE` reports after `prelude`, in a fresh interpreter with `env_values` set."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "STEPGRAD_MALLOC_TUNING")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OPENBLAS_NUM_THREADS"] = "2"
    env.update(env_values)
    done = subprocess.run([sys.executable, "-c", PROBE.format(prelude=prelude, tuned=tuned)], capture_output=True,
                          text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def require_glibc_and_openblas(found):
    if not found["spins"]:
        pytest.skip("numpy does not use an OpenBLAS with thread-timeout entry points here")


@pytest.fixture(scope="module")
def untouched():
    """The process as numpy alone leaves it."""
    found = probe("import numpy")
    require_glibc_and_openblas(found)
    return found


@pytest.mark.parametrize("imports", ["import numpy; import engine", "import engine", "import optim", "import models",
                                     "import engine.viz"])
def test_importing_changes_neither_malloc_nor_openblas(imports, untouched):
    found = probe(imports)
    assert found == untouched
    assert untouched["mmapped"] == 1 and untouched["env"] is None  # glibc's default: a 1 MiB block is mmap'd


@pytest.mark.parametrize("first", ["import numpy", "import engine", "import optim", "import models"])
def test_tune_keeps_freed_memory_and_shortens_the_spin_whatever_came_first(first, untouched):
    found = probe(f"{first}\nimport engine\ntuned = engine.tune()", tuned="tuned")
    assert found["mmapped"] == 0
    assert set(found["spins"]) == {18} and found["env"] == "18"
    assert found["tuned"] == {"malloc": True, "openblas_spin": 18}


def test_a_spin_the_user_set_is_kept(untouched):
    found = probe("import engine\ntuned = engine.tune()", tuned="tuned", OPENBLAS_THREAD_TIMEOUT="25")
    assert set(found["spins"]) == {25} and found["tuned"]["openblas_spin"] == 25


def test_stepgrad_malloc_tuning_0_leaves_malloc_alone(untouched):
    found = probe("import engine\ntuned = engine.tune()", tuned="tuned", STEPGRAD_MALLOC_TUNING="0")
    assert found["mmapped"] == 1 and found["tuned"]["malloc"] is False
