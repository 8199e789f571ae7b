"""The figures, each measured for the engine and (if present) PyTorch, as table rows.

Each case takes the run's `Context`, times or measures both frameworks (timings
interleaved, see `bench.timing`) and appends `Row`s to `ctx.rows`; facts for the
report's other sections (the equivalence check, the profile, memory details) go to
`ctx.notes`. The timed engine figures are measured on both kernel backends in the
same interleaved run: "engine" on numpy, "fast" on the compiled backend (when
installed; see `bench.backends`).
"""
import statistics
from dataclasses import dataclass, field

from bench import backends, flops, gpt_case, memory, micro, op_breakdown
from bench.hotspots import profile_steps
from bench.timing import interleave
from engine import kernels


@dataclass
class Row:
    """One line of the results table: a figure for the engine on numpy, for torch, and for the engine on
    the compiled backend (`fast`) (None: not measured).

    `spread` maps "engine"/"fast"/"torch" to (min, max) over the repeats, for timings.
    """
    figure: str
    unit: str
    engine: float
    torch: float = None
    spread: dict = field(default_factory=dict)
    fast: float = None


@dataclass
class Context:
    """What every case needs: sizes, timing plan, torch (or None), GPT batches, thread count, results."""
    sizes: object
    plan: object
    torch: object
    batches: list
    threads: int
    rows: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)


def _interleave(ctx, contenders, number):
    """`interleave` with the run's plan: its repeats, warm-up and settling pause; blocks of `number` calls."""
    return interleave(contenders, ctx.plan.repeats, number, ctx.plan.warmup, ctx.plan.settle)


def _timed_row(figure, unit, scale, timings):
    """A Row from {"engine": Timing, "fast": Timing, "torch": Timing}: medians and spreads times `scale`."""
    torch_t, fast_t = timings.get("torch"), timings.get("fast")
    return Row(figure, unit, timings["engine"].median * scale, torch_t.median * scale if torch_t else None,
               {name: tuple(v * scale for v in t.spread) for name, t in timings.items()},
               fast_t.median * scale if fast_t else None)


def _engine_contenders(make):
    """{"engine": make() on numpy, "fast": another make() on the compiled backend, if installed}."""
    contenders = {"engine": backends.on_backend("numpy", make())}
    if backends.fast_available():
        contenders["fast"] = backends.on_backend(backends.FAST, make())
    return contenders


def gpt(ctx):
    """The GPT training step: total and per phase (ms), the equivalence check, the profiles."""
    s, plan, torch = ctx.sizes, ctx.plan, ctx.torch
    steps = []

    def make():
        model, opt = gpt_case.build_engine(s, s.vocab_size)            # the same seeded weights for each backend
        steps.append(gpt_case.engine_step(model, opt, ctx.batches, s.grad_clip))
        return steps[-1]
    contenders = _engine_contenders(make)
    model = steps[0].model
    if torch is not None:
        for name in contenders:                                       # "engine" on numpy, "fast" compiled
            kernels.set_backend("numpy" if name == "engine" else backends.FAST)
            key = "equivalence" if name == "engine" else "equivalence_fast"
            ctx.notes[key] = gpt_case.check_equivalence(torch, s, ctx.batches, s.vocab_size)
        tmodel, topt = gpt_case.build_torch(torch, s, s.vocab_size, init_from=model)
        contenders["torch"] = gpt_case.torch_step(torch, tmodel, topt, ctx.batches, s.grad_clip)
    timings = _interleave(ctx, contenders, plan.gpt_number)
    ctx.notes["gpt_step_seconds"] = {name: t.median for name, t in timings.items()}
    ctx.rows.append(_timed_row(
        f"GPT train step (B={s.batch_size}, T={s.block_size}, n_layer={s.n_layer}, n_head={s.n_head}, "
        f"n_embd={s.n_embd})", "ms", 1e3, timings))
    timed = {"engine": steps[0], "fast": steps[1] if len(steps) > 1 else None, "torch": contenders.get("torch")}
    timed = {name: step for name, step in timed.items() if step is not None}
    for phase in gpt_case.PHASES:
        medians = {name: statistics.median(step.phases[phase][plan.warmup:]) * 1e3 for name, step in timed.items()}
        ctx.rows.append(Row(f"  {phase}", "ms", medians["engine"], medians.get("torch"), fast=medians.get("fast")))
    if torch is not None:
        ctx.notes["final_losses"] = gpt_case.final_losses(model, tmodel, torch, ctx.batches[0])
        ctx.notes["steps_each"] = steps[0].calls
    kernels.set_backend("numpy")                                      # the profile: numpy's kernels
    ctx.notes["profile"] = profile_steps(steps[0], plan.profile_steps)
    breakdown = {"engine": op_breakdown.engine_breakdown(steps[0], plan.profile_steps)}
    if "fast" in contenders:
        kernels.set_backend(backends.FAST)
        breakdown["fast"] = op_breakdown.engine_breakdown(steps[1], plan.profile_steps)
    if torch is not None:
        breakdown["torch"] = op_breakdown.torch_breakdown(torch, contenders["torch"], plan.profile_steps)
    ctx.notes["op_breakdown"] = breakdown


def tiny(ctx):
    """The chain of tiny ops, forward and backward: µs per op."""
    s = ctx.sizes
    contenders = _engine_contenders(lambda: micro.engine_chain(s))
    if ctx.torch is not None:
        contenders["torch"] = micro.torch_chain(ctx.torch, s)
    timings = _interleave(ctx, contenders, ctx.plan.tiny_number)
    shape = "x".join(map(str, s.chain_shape))
    ctx.rows.append(_timed_row(f"{s.chain_ops}-op chain on ({shape}) tensors, fwd+bwd, per op", "µs",
                               1e6 / s.chain_ops, timings))


def mlp(ctx):
    """The small MLP's Adam step: µs per step."""
    s = ctx.sizes
    models = []

    def make():
        run, model = micro.engine_mlp(s)
        models.append(model)
        return run
    contenders = _engine_contenders(make)
    model = models[0]
    if ctx.torch is not None:
        contenders["torch"] = micro.torch_mlp(ctx.torch, s, model)
    timings = _interleave(ctx, contenders, ctx.plan.mlp_number)
    widths = "-".join(map(str, s.mlp))
    ctx.rows.append(_timed_row(f"MLP {widths} tanh, MSE, batch {s.mlp_batch}: Adam step", "µs", 1e6, timings))


def memory_case(ctx):
    """Peak memory of GPT steps, each framework in a fresh process (MiB)."""
    found = {"engine": memory.measure("engine", ctx.sizes, ctx.threads)}
    if ctx.torch is not None:
        found["torch"] = memory.measure("torch", ctx.sizes, ctx.threads)
    ctx.notes["memory"] = found
    theirs = found.get("torch", {})
    n = ctx.sizes.memory_steps
    ctx.rows.append(Row(f"GPT steps' peak memory above the loaded model ({n} steps, RSS)", "MiB",
                        found["engine"]["rss_delta"], theirs.get("rss_delta")))
    ctx.rows.append(Row("  process peak RSS (libraries, model, steps)", "MiB",
                        found["engine"]["rss_peak"], theirs.get("rss_peak")))
    ctx.rows.append(Row("  engine: numpy peak within one step (tracemalloc)", "MiB",
                        found["engine"]["tracemalloc_step_peak"]))


def flops_case(ctx):
    """GFLOP/s of a square sgemm (each BLAS's peak: fastest block) and of the GPT step (median), and the share."""
    if "gpt_step_seconds" not in ctx.notes:
        gpt(ctx)  # the GPT step's time is needed; measure it (its rows join the table)
    n = ctx.sizes.gemm
    contenders = {"engine": flops.numpy_gemm(n)}
    if ctx.torch is not None:
        contenders["torch"] = flops.torch_gemm(ctx.torch, n)
    timings = _interleave(ctx, contenders, ctx.plan.gemm_number)
    peak = {name: flops.gemm_flops(n) / t.best / 1e9 for name, t in timings.items()}  # a peak: the fastest block
    step_flops = flops.gpt_step_flops(ctx.sizes, ctx.sizes.vocab_size)
    achieved = {name: step_flops / sec / 1e9 for name, sec in ctx.notes["gpt_step_seconds"].items()}
    peak["fast"] = peak["engine"]                                     # the same numpy BLAS does the matmuls
    share = {name: 100 * achieved[name] / peak[name] for name in achieved}
    ctx.notes["step_gflop"] = step_flops / 1e9
    ctx.rows.append(Row(f"sgemm {n}x{n} @ {n}x{n} float32 (numpy's BLAS vs torch's)", "GFLOP/s",
                        peak["engine"], peak.get("torch")))
    ctx.rows.append(Row(f"GPT step, {step_flops / 1e9:.3g} GFLOP of matmuls", "GFLOP/s",
                        achieved["engine"], achieved.get("torch"), fast=achieved.get("fast")))
    ctx.rows.append(Row("  share of its own sgemm peak", "%", share["engine"], share.get("torch"),
                        fast=share.get("fast")))


def backends_case(ctx):
    """The candidate backends on one GELU, and the compiled backend's first-call cost (report notes only)."""
    ctx.notes["backends"] = (backends.candidates(ctx.torch, ctx.plan.repeats), backends.first_call_cost())


CASES = {"gpt": gpt, "tiny": tiny, "mlp": mlp, "memory": memory_case, "flops": flops_case,
         "backends": backends_case}
