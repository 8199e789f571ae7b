"""Interleaved timing: A, B, A, B, ... so that machine noise hits every contender alike.

Before each block the timer sleeps `settle` seconds. OpenBLAS's worker threads keep
spinning for a while (here up to ~0.2 s) after numpy's last matmul, and while they
spin PyTorch's OpenMP threads starve: measured on this 2-core machine, a 256x256
`torch.mm` took 8-12 ms instead of 0.12 ms, and PyTorch's first GPT step after an
engine block 125 ms instead of 31 ms. A training loop never switches frameworks,
so the pause measures each one as it runs alone.
"""
import statistics
import time
from dataclasses import dataclass


@dataclass
class Timing:
    """Seconds per call of one contender, one value per interleaved block."""
    samples: list

    @property
    def median(self):
        """Median seconds per call over the blocks."""
        return statistics.median(self.samples)

    @property
    def best(self):
        """Fastest block's seconds per call: what the machine can do when nothing interferes."""
        return min(self.samples)

    @property
    def spread(self):
        """(min, max) seconds per call over the blocks."""
        return min(self.samples), max(self.samples)


def interleave(contenders, repeats, number, warmup=1, settle=0.0):
    """Time each callable in `contenders` (name -> fn) in alternating blocks.

    Every contender is first called `warmup` times. Then, `repeats` times over,
    each contender in turn sleeps `settle` seconds, makes one untimed call (after
    the pause its threads are asleep and its caches cold, which a training loop
    never sees), then runs a block of `number` calls; a block's seconds per call is
    one sample. Returns name -> `Timing`. Garbage collection stays on, as
    in a real training loop.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            time.sleep(settle)
            fn()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: Timing(s) for name, s in samples.items()}
