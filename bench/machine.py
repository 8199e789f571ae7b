"""A description of the machine and software a benchmark ran on."""
import ctypes
import datetime
import importlib.metadata
import os
import platform

import numpy as np

from bench.threads import openblas, openblas_threads
from bench.wakeup import wake_latency
from engine import kernels

#: environment variables that change the speed of a run; each is reported, set or not
SPEED_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "STEPGRAD_NUM_THREADS", "STEPGRAD_BACKEND", "STEPGRAD_MALLOC_TUNING")


def cpu_model():
    """The CPU's model name and the SIMD extensions BLAS cares about, from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                if model != "unknown" and flags:
                    break
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f") if f in flags]
    return f"{model} ({', '.join(simd)})" if simd else model


def numpy_blas():
    """numpy's BLAS as its build reports it (name and version), e.g. 'scipy-openblas 0.3.31'."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (KeyError, TypeError):
        return "unknown"


def openblas_runtime():
    """OpenBLAS's runtime view: (config string with the kernel it picked, thread count), or None."""
    found = openblas()
    if found is None:
        return None
    lib, prefix, suffix = found
    get_config = getattr(lib, f"{prefix}get_config{suffix}", None)
    config = "?"
    if get_config is not None:
        get_config.restype = ctypes.c_char_p
        config = get_config().decode()
    return config, openblas_threads()


def describe(torch, torch_info, tuned):
    """An ordered dict of label -> text describing this machine and run (`tuned`: what `engine.tune()` applied)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "CPU": cpu_model(),
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "numpy BLAS": numpy_blas(),
    }
    runtime = openblas_runtime()
    if runtime is not None:
        info["OpenBLAS at run time"] = f"{runtime[0].strip()}; {runtime[1]} threads"
    if torch is not None:
        info["torch"] = torch.__version__
        info.update({k: str(v) for k, v in torch_info.items()})
    else:
        info["torch"] = "absent (engine figures only)"
    try:
        info["numba"] = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        info["numba"] = "not installed (no compiled backend)"
    info["engine kernels' threads"] = str(kernels.threads.num_threads())
    for name in SPEED_ENV:
        info[name] = os.environ.get(name, "not set")
    spin = tuned["openblas_spin"]
    info["engine.tune()"] = (f"malloc keeps freed memory: {'yes' if tuned['malloc'] else 'no'}; OpenBLAS idle spin: "
                             + (f"2^{spin} cycles" if spin is not None else "not set (no OpenBLAS found)"))
    same, other = wake_latency(same_core=True), wake_latency(same_core=False)
    if same is not None:
        info["thread wake-up after a signal (median; bench/wakeup.py)"] = (
            f"{same * 1e6:.0f} µs on the same core, {other * 1e6:.0f} µs on the other core")
    if load is not None:
        info["load average at start (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in load)
    return info
