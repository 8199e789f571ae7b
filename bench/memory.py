"""Peak memory of GPT training steps, each framework in a fresh process.

`python -m bench.memory engine|torch --sizes JSON` builds the model and optimizer,
resets the kernel's peak-RSS mark (writing 5 to /proc/self/clear_refs; where that
is not allowed, ru_maxrss is used as it is), runs `memory_steps` training steps and
prints one JSON line: resident memory before the steps, the peak during them and
the difference (MiB). The difference is what training adds on top of the loaded
model: gradients, AdamW's two moment buffers, activations kept for backward and
temporaries. RSS is the common measure because PyTorch's allocations are invisible
to tracemalloc; for the engine, tracemalloc's peak over one further step (numpy
reports its array allocations to it) is given too.

The engine's process calls `engine.tune()`, as the `stepgrad` command does; the
PyTorch process loads the engine's packages (the recipe, the parameter groups) but
does not, so PyTorch meets glibc's malloc as it is.
"""
import argparse
import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

from bench.config import Sizes
from bench.threads import set_threads

MIB = 1024 * 1024


def _status_kib(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM) in KiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak():
    """Reset the peak-RSS mark to the current RSS; returns the method that will read it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM after clear_refs"
    except OSError:
        return "ru_maxrss (peak not reset: may include earlier peaks)"


def current_rss_mib():
    """Resident memory now, MiB (ru_maxrss as a stand-in where /proc is missing)."""
    kib = _status_kib("VmRSS")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def peak_rss_mib():
    """Peak resident memory since the last reset (or process start), MiB."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def measure_here(framework, sizes, threads):
    """Build the framework's GPT step in this process and measure its memory (dict of MiB)."""
    from bench import gpt_case
    batches, vocab = gpt_case.make_batches(sizes)
    if framework == "engine":
        from engine import tune
        tune()  # as the `stepgrad` command does
        model, opt = gpt_case.build_engine(sizes, vocab)
        set_threads(threads)
        step = gpt_case.engine_step(model, opt, batches, sizes.grad_clip)
    else:
        from bench.torch_ref import load_torch
        torch = load_torch()
        set_threads(threads, torch)
        model, opt = gpt_case.build_torch(torch, sizes, vocab)
        step = gpt_case.torch_step(torch, model, opt, batches, sizes.grad_clip)
    gc.collect()
    method = reset_peak()
    before = current_rss_mib()
    for _ in range(sizes.memory_steps):
        step()
    peak = peak_rss_mib()
    result = {"framework": framework, "method": method, "rss_before": before, "rss_peak": peak,
              "rss_delta": peak - before}
    if framework == "engine":
        tracemalloc.start()
        step()
        result["tracemalloc_step_peak"] = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    return result


def measure(framework, sizes, threads):
    """Run `measure_here` in a fresh Python process; returns its dict."""
    cmd = [sys.executable, "-m", "bench.memory", framework, "--threads", str(threads),
           "--sizes", json.dumps(dataclasses.asdict(sizes))]
    root = str(Path(__file__).resolve().parents[1])  # so `bench` imports from any working directory
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
           "STEPGRAD_BACKEND": "numpy"}                               # the "engine" column: numpy's kernels
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement of {framework} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    """Entry point of the measuring process: prints the result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=main.__doc__)
    parser.add_argument("framework", choices=["engine", "torch"])
    parser.add_argument("--sizes", required=True, help="the Sizes fields as JSON")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (numpy's OpenBLAS, torch)")
    args = parser.parse_args(argv)
    fields = json.loads(args.sizes)
    sizes = Sizes(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    print(json.dumps(measure_here(args.framework, sizes, args.threads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
