"""Keep freed memory for reuse: glibc's malloc tuned for numpy's large temporaries.

By default glibc serves every allocation above 128 KiB with a fresh mmap and returns
it to the system on free, so each op's output costs page faults on first touch. A
training step allocates and frees the same large buffers again and again; telling
malloc to keep them (mmap threshold 32 MiB, no trimming) made a numpy forward pass
of the GPT ~1.6x faster here (DESIGN.md part C). Applied once when the engine is
imported, on glibc only; set STEPGRAD_MALLOC_TUNING=0 to leave malloc alone.
"""
import ctypes
import ctypes.util
import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024        # glibc's maximum on 64-bit systems
_TRIM_THRESHOLD = 1024 * 1024 * 1024


def tune_malloc():
    """Ask glibc to keep freed memory for reuse; returns True if it was applied."""
    if os.environ.get("STEPGRAD_MALLOC_TUNING", "1") == "0":
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (macOS, musl, Windows): nothing to tune
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok_mmap = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    ok_trim = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    return bool(ok_mmap and ok_trim)
