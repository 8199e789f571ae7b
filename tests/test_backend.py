"""Choosing the kernels' backend: numpy always, numba when installed, switched off by one call or a variable.

The kernels themselves are checked against the plain math in tests/test_kernels.py;
here: which implementation the ops get, that importing the engine loads nothing, and
that a training step computes the same numbers on both backends.
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from engine import Tensor, kernels
from engine import functional as F
from engine.kernels import compiled

NUMBA_MISSING = importlib.util.find_spec("numba") is None
needs_numba = pytest.mark.skipif(NUMBA_MISSING,
                                 reason="the numba backend is not installed (pip install 'stepgrad[fast]')")


def run_python(code, **env):
    """Run `code` in a fresh interpreter with extra environment variables; returns its stdout."""
    full_env = {**os.environ, **env}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def restore_backend():
    before = kernels.backend()
    yield
    kernels.set_backend(before)


def test_the_fastest_installed_backend_is_chosen_and_nothing_is_loaded_on_import():
    out = run_python("import sys, engine; print(engine.kernels.backend(), 'numba' in sys.modules)",
                     STEPGRAD_BACKEND="")
    assert out == ("numpy False" if NUMBA_MISSING else "numba False")


def test_the_environment_variable_keeps_to_numpy():
    assert run_python("import engine; print(engine.kernels.backend())", STEPGRAD_BACKEND="numpy") == "numpy"


def test_an_unknown_backend_in_the_environment_is_a_one_line_warning():
    out = run_python("import warnings; warnings.simplefilter('error')\n"
                     "try:\n    import engine\nexcept RuntimeWarning as w:\n    print(w)", STEPGRAD_BACKEND="cuda")
    assert out.startswith("ignoring STEPGRAD_BACKEND='cuda': the backends here are numpy")


def test_set_backend_numpy_binds_every_kernel_to_numpy(restore_backend):
    kernels.set_backend("numpy")
    assert kernels.backend() == "numpy"
    assert all(getattr(kernels, name) is impl for name, impl in kernels.NUMPY.items())


def test_set_backend_refuses_unknown_names(restore_backend):
    with pytest.raises(ValueError, match="no backend named 'gpu'"):
        kernels.set_backend("gpu")


@pytest.mark.skipif(not NUMBA_MISSING, reason="numba is installed here")
def test_asking_for_numba_without_it_says_how_to_install_it():
    with pytest.raises(ValueError, match=r"pip install 'stepgrad\[fast\]'"):
        kernels.set_backend("numba")


@needs_numba
def test_set_backend_numba_binds_the_compiled_kernels(restore_backend):
    previous = kernels.set_backend("numba")
    assert kernels.backend() == "numba" and previous in ("numpy", "numba")
    for name in kernels.NUMPY:
        assert getattr(kernels, name) is compiled.KERNELS.get(name, kernels.NUMPY[name])


@needs_numba
def test_the_compiled_loops_are_cached_in_the_user_cache_folder(tmp_path):
    out = run_python("import numba, numpy as np\n"
                     "from engine.kernels import compiled\n"
                     "compiled.gelu(np.ones(3, np.float32), True)\n"
                     "print(repr(numba.config.CACHE_DIR))",
                     XDG_CACHE_HOME=str(tmp_path), NUMBA_CACHE_DIR="")
    assert out == "''"                     # numba's own setting is left as it was
    assert any((tmp_path / "stepgrad" / "numba").rglob("*.nbi"))


@needs_numba
def test_a_transformer_block_computes_the_same_numbers_on_both_backends(restore_backend):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 8, 16)).astype(np.float32)       # (B, T, C)
    w0 = rng.standard_normal((48, 16)).astype(np.float32) * 0.3   # (3C, C)
    targets = rng.integers(0, 16, (2, 8))                          # (B, T)

    def step(backend):
        kernels.set_backend(backend)
        x, w = Tensor(x0, requires_grad=True), Tensor(w0, requires_grad=True)
        h = F.layer_norm(x, (16,), weight=Tensor(np.ones(16, np.float32)), bias=Tensor(np.zeros(16, np.float32)))
        q, k, v = (F.linear(h, w).reshape(2, 8, 3, 2, 8).transpose(2, 0, 3, 1, 4)[i] for i in range(3))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)               # (B, H, T, D)
        logits = F.gelu(y.transpose(0, 2, 1, 3).reshape(16, 16))                   # (B*T, C)
        loss = F.cross_entropy(logits, targets.reshape(-1))
        loss.backward()
        return loss.item(), x.grad.numpy(), w.grad.numpy()

    on_numpy, on_numba = step("numpy"), step("numba")
    assert abs(on_numpy[0] - on_numba[0]) < 1e-5
    for a, b in zip(on_numpy[1:], on_numba[1:]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
