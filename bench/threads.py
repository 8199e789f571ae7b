"""Thread counts of the two BLAS back ends: numpy's OpenBLAS (through ctypes) and torch's.

OpenBLAS and OpenMP worker threads spin while they wait for work; on a machine
where other processes compete for the cores, more threads can make small matmuls
many times slower. The benchmark sets both frameworks to the same count. (The
engine finds OpenBLAS the same way in `engine/kernels/tuning.py`; this module does not
import it, so that the PyTorch memory measurement can run without the engine.)
"""
import ctypes

_PREFIXES = (("scipy_openblas_", "64_"), ("openblas_", ""), ("openblas_", "64_"))


def openblas():
    """(ctypes library, symbol prefix, symbol suffix) of the OpenBLAS numpy loaded, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for prefix, suffix in _PREFIXES:
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, prefix, suffix
    return None


def openblas_threads():
    """OpenBLAS's current thread count, or None if numpy does not use a findable OpenBLAS."""
    found = openblas()
    if found is None:
        return None
    lib, prefix, suffix = found
    return getattr(lib, f"{prefix}get_num_threads{suffix}")()


def set_threads(n, torch=None):
    """Use `n` threads in numpy's OpenBLAS (if found) and in torch's intra-op pool (if given)."""
    found = openblas()
    if found is not None:
        lib, prefix, suffix = found
        setter = getattr(lib, f"{prefix}set_num_threads{suffix}")
        setter.argtypes = [ctypes.c_int]
        setter(n)
    if torch is not None:
        torch.set_num_threads(n)
