"""Forward and backward time per kind of op, engine beside PyTorch: where the gap is.

Engine: every op class's `forward` and `backward` is wrapped with a timer for a few
steps (and unwrapped afterwards); an op run inside another's timed rule (a backward
written with tensor ops) counts for the outer one. PyTorch: `torch.profiler`'s self
CPU time per aten op over the same steps' forward and backward. Both are grouped into
the same kinds; "everything else" is the rest of each phase's wall time (small ops,
views, the autograd machinery, and for PyTorch the profiler's own overhead).
"""
import time

# (kind, the engine's op names, substrings of PyTorch's aten op names)
KINDS = (
    ("matmul (linear layers, lm_head)", {"linear", "matmul"}, ("aten::mm", "aten::addmm", "aten::bmm")),
    ("attention", {"attention"}, ("scaled_dot_product",)),
    ("GELU", {"gelu"}, ("aten::gelu",)),
    ("layer norm", {"layer_norm"}, ("layer_norm",)),
    ("cross-entropy", {"cross_entropy"}, ("log_softmax", "nll_loss", "cross_entropy")),
)
OTHER = "everything else"
PHASES = ("forward", "backward")


def _kind_of_engine_op(name):
    return next((kind for kind, names, _ in KINDS if name in names), None)


def _kind_of_torch_op(name):
    return next((kind for kind, _, parts in KINDS if any(p in name for p in parts)), None)


def _empty():
    return {phase: {kind: 0.0 for kind, _, _ in KINDS} for phase in PHASES}


def _with_other(seconds, totals, n_steps):
    """Per-step ms by phase and kind, with OTHER = phase wall time minus the kinds."""
    out = {}
    for phase in PHASES:
        ms = {kind: s / n_steps * 1e3 for kind, s in seconds[phase].items()}
        ms[OTHER] = max(0.0, totals[phase] / n_steps * 1e3 - sum(ms.values()))
        out[phase] = ms
    return out


class _OpTimers:
    """Timers around every op class's forward and backward rule while active (a context manager)."""

    def __init__(self, seconds):
        self.seconds, self.phase, self.depth, self.saved = seconds, "forward", 0, []

    def _wrap(self, op, attr):
        rule, kind = getattr(op, attr), _kind_of_engine_op(op.name)

        def timed(*args, **kwargs):
            if self.depth:                                            # inside another op's rule: counted there
                return rule(*args, **kwargs)
            self.depth = 1
            start = time.perf_counter()
            try:
                return rule(*args, **kwargs)
            finally:
                if kind is not None:
                    self.seconds[self.phase][kind] += time.perf_counter() - start
                self.depth = 0
        return timed

    def __enter__(self):
        from engine.ops import OPS
        for op in OPS:
            for attr in ("forward", "backward"):
                self.saved.append((op, attr, op.__dict__.get(attr)))
                setattr(op, attr, self._wrap(op, attr))
        return self

    def __exit__(self, *exc):
        for op, attr, rule in reversed(self.saved):
            if rule is None:
                delattr(op, attr)  # the rule was inherited: drop the wrapper to reveal it again
            else:
                setattr(op, attr, rule)


def engine_breakdown(step, n_steps):
    """Per-step ms of the engine's GPT step by phase and kind of op; `step` is a `TimedStep`."""
    seconds, totals = _empty(), dict.fromkeys(PHASES, 0.0)
    with _OpTimers(seconds) as timers:
        for i in range(n_steps):
            x, y = step.batches[i % len(step.batches)]
            timers.phase = "forward"
            start = time.perf_counter()
            loss = step.forward(x, y)
            totals["forward"] += time.perf_counter() - start
            timers.phase = "backward"
            start = time.perf_counter()
            loss.backward()
            totals["backward"] += time.perf_counter() - start
            step.update()
    return _with_other(seconds, totals, n_steps)


def torch_breakdown(torch, step, n_steps):
    """Per-step ms of PyTorch's GPT step by phase and kind (self CPU time of its aten ops).

    One profiler session covers the steps; each aten op counts for the phase (a
    `record_function` range) in which it started.
    """
    from torch.profiler import ProfilerActivity, profile, record_function
    seconds, totals = _empty(), dict.fromkeys(PHASES, 0.0)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(n_steps):
            x, y = step.batches[i % len(step.batches)]
            start = time.perf_counter()
            with record_function("forward"):
                loss = step.forward(x, y)
            mid = time.perf_counter()
            with record_function("backward"):
                loss.backward()
            totals["forward"] += mid - start
            totals["backward"] += time.perf_counter() - mid
            step.update()
    events = prof.events()
    ranges = [(e.time_range.start, e.time_range.end, e.name) for e in events if e.name in PHASES]
    for event in events:
        kind = _kind_of_torch_op(event.name)
        if kind is None:
            continue
        phase = next((name for lo, hi, name in ranges if lo <= event.time_range.start < hi), None)
        if phase is not None:
            seconds[phase][kind] += event.self_cpu_time_total * 1e-6
    return _with_other(seconds, totals, n_steps)
