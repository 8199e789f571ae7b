"""What every test session shares: the compiled backend's loops are ready before the first test."""
import pytest

from engine import kernels


@pytest.fixture(scope="session", autouse=True)
def compiled_loops_ready():
    """On the numba backend, compile every loop (or load it from the on-disk cache) once, up front.

    A user pays that once per machine; tests that bound their own CPU time (the docs' code
    blocks) must not be charged for it by happening to run first.
    """
    if kernels.backend() == "numba":
        from engine.kernels import compiled
        compiled.warm_up()
