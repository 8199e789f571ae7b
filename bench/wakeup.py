"""How long a sleeping thread takes to start running after it is signalled, same core vs other core.

Every parallel kernel hands work to a thread that sleeps: the engine's own workers
(`engine.kernels.threads`), OpenBLAS's workers once their idle spin ends, and a Python
thread waiting for the GIL. On a virtual machine, waking a thread on another core
costs an inter-processor interrupt through the hypervisor; PyTorch's OpenMP workers
avoid it by spinning between parallel regions. This measures that cost.
"""
import os
import threading
import time


def wake_latency(same_core, rounds=300):
    """Median seconds from `Event.set()` to the waiting thread running, pinned to one or two cores.

    None when threads cannot be pinned here (no `sched_setaffinity`, one core, or pinning refused).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    waiter_core = cores[0] if same_core else cores[1]
    go, done, sent, latencies, pinned = threading.Event(), threading.Event(), [0.0], [], []

    def waiter():
        try:
            os.sched_setaffinity(0, {waiter_core})                   # this thread only (Linux)
            pinned.append(True)
        except OSError:
            pass
        for _ in range(rounds):                                       # serve every round, pinned or not
            go.wait()
            latencies.append(time.perf_counter() - sent[0])
            go.clear()
            done.set()

    try:
        os.sched_setaffinity(0, {cores[0]})
        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        for _ in range(rounds):
            time.sleep(0.0002)                                        # let the waiter fall asleep
            sent[0] = time.perf_counter()
            go.set()
            done.wait()
            done.clear()
        thread.join()
    except OSError:
        return None
    finally:
        os.sched_setaffinity(0, set(cores))
    if not pinned:
        return None
    latencies.sort()
    return latencies[len(latencies) // 2]
