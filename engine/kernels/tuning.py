"""Tuning by choice: two process-wide settings that make a training step faster.

Importing the engine changes nothing outside it. `engine.tune()` applies these two
settings, which act on the whole process (PyTorch or any other numpy code in it gets
them too); the `stepgrad` command and `python -m bench` call it themselves.

1. glibc's malloc keeps freed memory for reuse. By default it serves every allocation
   above 128 KiB with a fresh mmap and returns it to the system on free, so each op's
   output costs page faults on first touch. A training step allocates and frees the
   same large buffers again and again; with an mmap threshold of 32 MiB and no
   trimming, a numpy forward pass of the GPT ran ~1.6x faster (DESIGN.md part C).
   `STEPGRAD_MALLOC_TUNING=0` leaves malloc alone.
2. OpenBLAS's idle worker threads sleep soon after a matmul. By default they spin for
   2**28 cycles (about 0.1 s) in case another matmul follows, holding a core while the
   engine's threaded kernels (GELU, attention) want it. OpenBLAS reads the spin,
   `OPENBLAS_THREAD_TIMEOUT` (log2 of the cycles), from the environment when numpy
   loads it; so `tune` sets the variable (a value the user set wins), asks each
   OpenBLAS loaded to read its environment again and stops its workers, which the
   next matmul starts afresh with a spin of 2**18 cycles (~0.1 ms). Call `tune` when
   no other thread is inside a matmul. Linux only (the libraries are found in
   /proc/self/maps); with another BLAS nothing changes.

docs/architecture.md gives the measured effect on the GPT training step.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024        # glibc's maximum on 64-bit systems
_TRIM_THRESHOLD = 1024 * 1024 * 1024
TIMEOUT_VARIABLE = "OPENBLAS_THREAD_TIMEOUT"
SHORT_SPIN = 18  # log2 of the cycles an idle OpenBLAS worker spins before it sleeps


def tune():
    """Switch on both settings; returns what was applied.

    {"malloc": True if glibc now keeps freed memory, "openblas_spin": the log2 spin
    every loaded OpenBLAS now uses, or None if no OpenBLAS could be told}.
    """
    return {"malloc": keep_freed_memory(), "openblas_spin": shorten_openblas_spin()}


def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse; returns True if it was applied."""
    if os.environ.get("STEPGRAD_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl, Windows): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(ok_mmap and ok_trim)


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


def shorten_openblas_spin():
    """Make OpenBLAS's idle workers sleep after 2**18 cycles (unless the user chose another spin).

    Returns the spin the loaded OpenBLAS libraries now use, or None if there is none to tell.
    """
    os.environ.setdefault(TIMEOUT_VARIABLE, str(SHORT_SPIN))
    try:
        wanted = int(os.environ[TIMEOUT_VARIABLE])
    except ValueError:
        return None  # not a number: the user's own setting, left to OpenBLAS
    applied = None
    for lib in loaded_openblas():
        try:
            current, reread_environment, stop_workers = (
                lib.openblas_thread_timeout, lib.openblas_read_env, lib.blas_thread_shutdown_)
        except AttributeError:
            continue
        if current() != wanted:
            reread_environment()
            stop_workers()
        applied = current()
    return applied
