"""OpenBLAS's idle worker threads: let them sleep soon after a matmul.

After each matmul, OpenBLAS's worker threads keep spinning for 2**28 cycles (about
0.1 s) in case another one follows, and hold a core while they do. In a training
step the next op is often one of the engine's threaded kernels (GELU, attention),
which then gets one core instead of two: the GPT step took 57-60 ms here with that
default and 49-53 ms with a spin of 2**18 cycles (~0.1 ms), still long enough to
cover back-to-back matmuls.

OpenBLAS reads `OPENBLAS_THREAD_TIMEOUT` (log2 of the spin, in cycles) from the
environment when numpy loads it, which is before the engine's code runs. So the
engine sets the variable (a value the user set wins) and then asks each OpenBLAS
already loaded to read its environment again and stop its worker threads; they are
started afresh, with the short spin, by the next matmul. This happens once, when the
engine is imported (so not while another thread is inside a matmul). Linux only (the
libraries are found in /proc/self/maps); with another BLAS, or an OpenBLAS without
these entry points, nothing changes.
"""
import ctypes
import os

TIMEOUT_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
SHORT_SPIN = 18  # log2 of the cycles an idle worker spins before it sleeps


def loaded_openblas():
    """ctypes handles of the OpenBLAS libraries loaded in this process (empty if none is found)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split(maxsplit=5)[-1].strip() for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    libs = []
    for path in sorted(paths):
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            continue  # e.g. a library file deleted since it was loaded
    return libs


def shorten_idle_spin():
    """Make OpenBLAS's idle workers sleep after 2**18 cycles (unless the user chose another spin)."""
    os.environ.setdefault(TIMEOUT_VARIABLE, str(SHORT_SPIN))
    try:
        wanted = int(os.environ[TIMEOUT_VARIABLE])
    except ValueError:
        return  # not a number: the user's own setting, left to OpenBLAS
    for lib in loaded_openblas():
        try:
            current, reread_environment, stop_workers = (
                lib.openblas_thread_timeout, lib.openblas_read_env, lib.blas_thread_shutdown_)
        except AttributeError:
            continue
        if current() != wanted:
            reread_environment()
            stop_workers()
