"""The kernels give the same answers split over threads as in one thread; the thread count setting."""
import os

import numpy as np
import pytest

from engine import Tensor, functional as F, gradcheck
from engine.kernels import threads as parallel

RNG = np.random.default_rng(7)


@pytest.fixture
def threads(monkeypatch):
    """Force the threaded path even on small arrays, with 3 blocks."""
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    monkeypatch.setattr(parallel, "_threads", 3)
    monkeypatch.setattr(parallel, "_pool", None)
    yield


def run(fn, *arrays):
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    out.backward(Tensor(np.cos(np.arange(out.data.size)).reshape(out.shape).astype(out.dtype)))
    return out.data, [x.grad.data for x in xs]


CASES = {
    "gelu": (lambda x: F.gelu(x), [(5, 7, 11)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 11, w, b), [(5, 7, 11), (11,), (11,)]),
    "layer_norm_no_affine": (lambda x: F.layer_norm(x, (7, 11)), [(5, 7, 11)]),
    "attention": (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
                  [(5, 2, 6, 3), (5, 2, 6, 3), (5, 2, 6, 3)]),
}


@pytest.mark.parametrize("name", CASES)
def test_threaded_kernels_match_one_thread(name, monkeypatch):
    fn, shapes = CASES[name]
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    monkeypatch.setattr(parallel, "_threads", 1)
    serial = run(fn, *arrays)
    monkeypatch.setattr(parallel, "MIN_WORK", 0)
    monkeypatch.setattr(parallel, "_threads", 3)
    monkeypatch.setattr(parallel, "_pool", None)
    threaded = run(fn, *arrays)
    np.testing.assert_allclose(threaded[0], serial[0], rtol=1e-6, atol=1e-6)
    for a, b in zip(threaded[1], serial[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_threaded_kernels_pass_gradcheck(name, threads):
    fn, shapes = CASES[name]
    xs = [Tensor(RNG.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(fn, xs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_can_still_run_threaded_kernels(threads):
    import threading
    x = Tensor(RNG.standard_normal((5, 7, 11)).astype(np.float32))
    F.gelu(x)  # the parent's pool now exists
    workers = parallel.num_threads() - 1
    barrier = threading.Barrier(workers + 1)
    started = [parallel._pool.submit(barrier.wait) for _ in range(workers)]  # every worker thread alive
    barrier.wait()
    for f in started:
        f.result()
    pid = os.fork()
    if pid == 0:  # child: would wait forever on the parent's (absent) pool threads
        code = 1
        try:
            F.gelu(x)
            code = 0
        finally:
            os._exit(code)
    import signal
    import time
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in a threaded kernel")
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.mark.parametrize("value, expected", [("1", 1), (" 1 ", 1), ("0", 1), ("cores", usable_cores())])
def test_stepgrad_num_threads_sets_the_thread_count(monkeypatch, value, expected):
    monkeypatch.setenv("STEPGRAD_NUM_THREADS", str(usable_cores()) if value == "cores" else value)
    assert parallel._usable_cores() == expected


def test_more_threads_than_cores_are_capped_with_a_warning(monkeypatch):
    monkeypatch.setenv("STEPGRAD_NUM_THREADS", str(usable_cores() + 3))
    with pytest.warns(RuntimeWarning, match=f"STEPGRAD_NUM_THREADS='{usable_cores() + 3}' is more than the "
                                            f"{usable_cores()} usable cores"):
        assert parallel._usable_cores() == usable_cores()


def test_a_thread_count_that_is_not_a_number_is_ignored_with_a_warning(monkeypatch):
    cores = usable_cores()
    monkeypatch.setenv("STEPGRAD_NUM_THREADS", "")
    assert parallel._usable_cores() == cores
    monkeypatch.setenv("STEPGRAD_NUM_THREADS", "abc")
    with pytest.warns(RuntimeWarning, match="ignoring STEPGRAD_NUM_THREADS='abc'"):
        assert parallel._usable_cores() == cores
