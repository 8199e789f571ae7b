"""Memory: graphs are freed as soon as the last tensor of them goes, so training stays flat."""
import gc
import tracemalloc

import numpy as np

import engine
import optim
from models.gpt import GPT, GPTConfig


def _training_step(model, opt, rng):
    x = rng.integers(0, 16, (4, 8))
    y = rng.integers(0, 16, (4, 8))
    _, loss = model(x, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_training_loop_peak_memory_is_flat_over_hundreds_of_steps():
    engine.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=16))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(5):  # optimizer state and caches exist from here on
        _training_step(model, opt, rng)
    tracemalloc.start()
    try:
        windows = []
        for _ in range(4):  # 4 windows of 75 steps: 300 steps
            gc.collect()  # empties Python's free lists, so that every window starts alike
            tracemalloc.reset_peak()
            for _ in range(75):
                _training_step(model, opt, rng)
            gc.collect()
            windows.append(tracemalloc.get_traced_memory())  # (current, peak) bytes
    finally:
        tracemalloc.stop()
    currents = [c for c, _ in windows]
    peaks = [p for _, p in windows]
    assert max(currents) - min(currents) < 64 * 1024, currents    # nothing accumulates step to step
    assert max(peaks) < 1.05 * min(peaks), peaks                 # each window peaks at one step's graph
