"""Split numpy work over row blocks run in parallel threads.

numpy releases the GIL inside its loops, so the long kernels (GELU, attention) can
use every core the way BLAS already does for matmuls. Small arrays run in the
calling thread: below `MIN_WORK` elements the hand-off costs more than it saves
(waking a sleeping thread on another core takes about 60 µs on the 2-core machine we
measure on). `STEPGRAD_NUM_THREADS` sets the thread count (default, and at most: the
usable cores).
"""
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

MIN_WORK = 1 << 18


def _usable_cores():
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    env = os.environ.get("STEPGRAD_NUM_THREADS", "").strip()
    if not env:
        return cores
    try:
        wanted = max(1, int(env))
    except ValueError:
        warnings.warn(f"ignoring STEPGRAD_NUM_THREADS={env!r}, which is not a whole number: "
                      f"using {cores} threads (the usable cores)", RuntimeWarning)
        return cores
    if wanted > cores:
        warnings.warn(f"STEPGRAD_NUM_THREADS={env!r} is more than the {cores} usable cores: using {cores} threads "
                      f"(more threads than cores only wait for each other)", RuntimeWarning)
        return cores
    return wanted


_threads = _usable_cores()
_pool = None
_fork_hook_registered = False


def _forget_pool_in_child():
    """A forked child has the pool object but not its threads: start a fresh one when needed."""
    global _pool
    _pool = None


def num_threads():
    """How many threads the kernels use."""
    return _threads


def set_num_threads(n):
    """Use `n` threads for the kernels (1: everything in the calling thread)."""
    global _threads, _pool
    _threads = max(1, int(n))
    if _pool is not None:
        _pool.shutdown(wait=True)
        _pool = None


def for_blocks(fn, n_rows, work):
    """Run fn(start, stop) over [0, n_rows) split into one block per thread.

    Blocks run in parallel when `work` (elements touched) is worth it; returns the
    list of fn's results in block order.
    """
    global _pool, _fork_hook_registered
    k = min(_threads, n_rows)
    if k < 2 or work < MIN_WORK:
        return [fn(0, n_rows)]
    if _pool is None:
        if not _fork_hook_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_forget_pool_in_child)  # registered on first use, not at import
            _fork_hook_registered = True
        _pool = ThreadPoolExecutor(max_workers=_threads - 1, thread_name_prefix="stepgrad")
    edges = [n_rows * i // k for i in range(k + 1)]
    futures = [_pool.submit(fn, edges[i], edges[i + 1]) for i in range(1, k)]
    first = fn(edges[0], edges[1])
    return [first] + [f.result() for f in futures]
