"""The benchmark's results as text: the table for the console, and `docs/benchmarks.md`."""
from bench import flops, gpt_case
from bench.op_breakdown import OTHER, PHASES

RATIO_NOTE = ("engine is the engine on its numpy kernels, numba the same engine on the compiled backend "
              "(`pip install 'stepgrad[fast]'`; — when not installed), both in the same interleaved run. "
              "x/torch above 1: that many times longer than torch (or more memory); for GFLOP/s and % rows, "
              "below 1: that fraction of torch's rate.")


def fmt(value):
    """A number to 3-4 significant figures; '—' for None."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if 0 < abs(value) < 0.01:
        return f"{value:.2g}"  # not '0.00': a rate measured on a slow, busy machine is still a rate
    return f"{value:.2f}"


def ratio(value, torch):
    """value / torch, formatted ('—' without either)."""
    if value is None or torch is None or torch == 0:
        return "—"
    return f"{value / torch:.2f}"


def _cells(r):
    return (fmt(r.engine), fmt(r.fast), fmt(r.torch), ratio(r.engine, r.torch), ratio(r.fast, r.torch))


HEADER = ("figure", "unit", "engine", "numba", "torch", "engine/torch", "numba/torch")


def results_table(rows):
    """The results as a markdown table: figure, unit, engine (numpy), numba, torch and the two ratios."""
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        figure = r.figure.replace("  ", "&nbsp;&nbsp;", 1) if r.figure.startswith("  ") else r.figure
        lines.append(f"| {figure} | {r.unit} | " + " | ".join(_cells(r)) + " |")
    return "\n".join(lines)


def console_table(rows):
    """The results as aligned plain text for the terminal."""
    body = [(r.figure, r.unit, *_cells(r)) for r in rows]
    widths = [max(len(line[i]) for line in [HEADER, *body]) for i in range(len(HEADER))]
    out = []
    for line in [HEADER, *body]:
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def spread_table(rows):
    """Min, median and max over the repeats of every timed figure."""
    lines = ["| figure | unit | engine min / median / max | numba min / median / max | torch min / median / max |",
             "|---|---|---|---|---|"]
    for r in rows:
        if not r.spread:
            continue
        cells = []
        for name, median in (("engine", r.engine), ("fast", r.fast), ("torch", r.torch)):
            lo_hi = r.spread.get(name)
            cells.append(f"{fmt(lo_hi[0])} / {fmt(median)} / {fmt(lo_hi[1])}" if lo_hi else "—")
        lines.append(f"| {r.figure.strip()} | {r.unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def equivalence_section(notes):
    """Whether both GPTs computed the same first step, with the numbers."""
    eq = notes.get("equivalence")
    if eq is None:
        return "Not checked: torch was absent.\n"
    same = eq["loss_rel_diff"] < 1e-5 and eq["grad_rel_err"] < 1e-4 and eq["param_diff_in_lr"] < 0.1
    lines = [
        "Both models start from the same weights (the engine's initialisation copied into the PyTorch "
        "model) and take the first step on the same batch, in float32:",
        "",
        f"- loss: engine {eq['loss_engine']:.7f}, torch {eq['loss_torch']:.7f} "
        f"(relative difference {eq['loss_rel_diff']:.1e})",
        f"- gradients: worst max|difference| / max|torch grad| over parameters {eq['grad_rel_err']:.1e} "
        f"(`{eq['grad_worst_param']}`)",
        f"- gradient norm before clipping: engine {eq['clip_norm_engine']:.6f}, torch {eq['clip_norm_torch']:.6f}",
        f"- parameters after clipping and the AdamW step: largest difference {eq['param_diff_in_lr']:.3f} x lr "
        "(AdamW's first step moves every weight by about lr, so the update directions agree)",
    ]
    if "final_losses" in notes:
        ours, theirs = notes["final_losses"]
        lines.append(f"- after the {notes['steps_each']} timed steps each (same batches), loss on the first "
                     f"batch: engine {ours:.5f}, torch {theirs:.5f}")
    lines += ["", "Verdict: " + ("same computation (loss to 1e-5, gradients to 1e-4, update to 0.1 lr)."
                                 if same else "**MISMATCH** — the timings compare different computations.")]
    fast = notes.get("equivalence_fast")
    if fast is not None:
        same_fast = (fast["loss_rel_diff"] < 1e-5 and fast["grad_rel_err"] < 1e-4 and fast["param_diff_in_lr"] < 0.1)
        lines += ["", f"The same check on the compiled backend (numba): loss {fast['loss_engine']:.7f} (relative "
                  f"difference {fast['loss_rel_diff']:.1e}), worst gradient error {fast['grad_rel_err']:.1e} "
                  f"(`{fast['grad_worst_param']}`), update difference {fast['param_diff_in_lr']:.3f} x lr: "
                  + ("same computation." if same_fast else "**MISMATCH**.")]
    return "\n".join(lines) + "\n"


def profile_section(notes):
    """The engine GPT step's top functions by own time (cProfile)."""
    if "profile" not in notes:
        return "Not profiled (the `gpt` figure was not run).\n"
    rows, per_step = notes["profile"]
    lines = [f"cProfile of the engine's GPT step (profiled step: {per_step * 1e3:.1f} ms; profiling "
             "adds per-call overhead). Own time (tottime) includes the numpy work a function calls: "
             "matmuls show up in the matmul op.", "",
             "| function | calls/step | own ms/step | cumulative ms/step | share |", "|---|---:|---:|---:|---:|"]
    for label, calls, own, cum, share in rows:
        lines.append(f"| `{label}` | {calls:.0f} | {own:.2f} | {cum:.2f} | {100 * share:.1f}% |")
    return "\n".join(lines) + "\n"


def breakdown_section(notes):
    """Forward and backward ms per kind of op: engine on numpy, on numba, and torch, and the gaps per kind."""
    found = notes.get("op_breakdown")
    if not found:
        return ""
    ours, fast, theirs = found["engine"], found.get("fast"), found.get("torch")

    def per_phase(times, kind):
        return [times[p][kind] for p in PHASES] if times else [None, None]

    def totals(times):
        return [sum(times[p].values()) for p in PHASES] if times else [None, None]

    rows = [(kind, per_phase(ours, kind), per_phase(fast, kind), per_phase(theirs, kind)) for kind in ours["forward"]]
    rows.append(("**total**", totals(ours), totals(fast), totals(theirs)))
    lines = ["Per GPT step, in ms: each op's forward and backward rule, timed over the profiled steps on each "
             "kernel backend (numpy, numba) and in PyTorch (self CPU time of its aten ops, `torch.profiler`; "
             "bench/op_breakdown.py). \"everything else\" is the rest of the phase: small ops, views, the "
             "autograd machinery, and for PyTorch the profiler's own overhead.", "",
             "| kind of op | engine fwd | numba fwd | torch fwd | engine bwd | numba bwd | torch bwd "
             "| engine − torch | numba − torch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def gap(e, t):
        return "—" if e[0] is None or t[0] is None else f"{e[0] + e[1] - t[0] - t[1]:+.2f}"

    for kind, e, f, t in rows:
        lines.append(f"| {kind} | {fmt(e[0])} | {fmt(f[0])} | {fmt(t[0])} | {fmt(e[1])} | {fmt(f[1])} | "
                     f"{fmt(t[1])} | {gap(e, t)} | {gap(f, t)} |")
    if theirs:
        for label, times in (("engine", ours), ("numba", fast)):
            if times is None:
                continue
            gaps = sorted(((sum(per_phase(times, k)) - sum(per_phase(theirs, k)), k) for k in ours["forward"]
                           if k != OTHER), reverse=True)
            lines += ["", f"Largest gaps, {label}: " + ", ".join(f"{k} {g:+.2f} ms" for g, k in gaps[:3]) + "."]
        lines += ["", "PyTorch runs GELU, layer norm and attention as one fused C++ loop each. On numpy the engine "
                  "composes them from numpy calls, each a separate pass over memory (about 20 for GELU's erf); the "
                  "compiled backend runs each as one loop (engine/kernels/numba_loops.py), while the matmuls stay "
                  "numpy's BLAS on both backends."]
    return "\n".join(lines) + "\n"


def backends_section(notes):
    """The candidate backends compared, and the compiled one's first-call cost."""
    from bench.backends import describe_candidates
    if "backends" not in notes:
        return "Not measured (the `backends` figure was not run).\n"
    rows, cost = notes["backends"]
    return describe_candidates(rows, cost)


def memory_details(notes):
    """Baseline, peak and method of the memory measurement."""
    found = notes.get("memory")
    if not found:
        return ""
    lines = ["Memory, resident before the steps and at the peak:", ""]
    for name, m in found.items():
        lines.append(f"- {name}: RSS {m['rss_before']:.1f} MiB before the steps, peak {m['rss_peak']:.1f} MiB "
                     f"({m['method']})")
    return "\n".join(lines) + "\n"


def method_section(ctx):
    """How each figure is measured."""
    s, p = ctx.sizes, ctx.plan
    data = (f"windows of the train split of `{ctx.notes['data']}`" if ctx.notes.get("data")
            else "random tokens from `numpy.random.default_rng(0)`")
    return f"""Timings are interleaved: for each figure, engine and torch each run a block of calls, in
turn, {p.repeats} times over, so a burst of machine noise hits both; a figure is the median of the
blocks' time per call (spreads below). Each contender is first called {p.warmup} time(s) to warm up.
Before every block the run pauses {p.settle} s, so that the worker threads of the other framework's
BLAS, which spin for a while after its last call, are asleep (with OpenBLAS's default spin, PyTorch's
first GPT step after an engine block took 125 ms instead of 31 ms here); a training loop never switches
frameworks, so each is measured as it runs alone. Garbage collection stays on.

- **GPT train step**: nanoGPT's CPU recipe — B={s.batch_size}, T={s.block_size}, {s.n_layer} layers,
  {s.n_head} heads, {s.n_embd} wide, vocabulary {s.vocab_size}, dropout 0, no biases, tied lm_head;
  forward, backward, `clip_grad_norm_({s.grad_clip})`, AdamW (lr {s.lr}, betas {s.betas}, weight decay
  {s.weight_decay} on parameters with ndim >= 2 only), zero_grad. Engine: `models.gpt.GPT`,
  `optim.AdamW`, `optim.clip_grad_norm_`. PyTorch: `tests/torch_gpt.py` (nanoGPT's model in plain
  PyTorch, flash attention), `torch.optim.AdamW` with its default (per-parameter) implementation.
  {gpt_case.N_BATCHES} batches ({data}) are drawn once and cycled; blocks of {p.gpt_number} step(s). The phase rows
  are medians of each phase alone (forward, backward, clip, optimizer step + zero_grad).
- **Tiny-op chain**: {s.chain_ops} ops (multiply, add, tanh, scale by 0.5, repeated) on float32
  tensors of shape {s.chain_shape}, then `.sum().backward()`; time per call / {s.chain_ops}.
- **MLP**: Linear {s.mlp[0]}->{s.mlp[1]}, tanh, Linear {s.mlp[1]}->{s.mlp[2]}, MSE on {s.mlp_batch}
  random rows, Adam lr 1e-3: zero_grad, forward, backward, step. Same initial weights in both.
- **Memory**: each framework in a fresh process (`python -m bench.memory`) builds the GPT and AdamW,
  resets the kernel's peak-RSS mark (`/proc/self/clear_refs`), runs {s.memory_steps} training steps and
  reads the peak (`VmHWM`); the first row is peak minus RSS before the steps — gradients, AdamW state,
  saved activations, temporaries, thread pools. RSS is the common measure because PyTorch's
  allocations are invisible to `tracemalloc`; for the engine, `tracemalloc`'s peak over one more step
  (numpy reports its allocations to it) is also given. The PyTorch process never imports the engine
  (whose import tunes glibc's malloc to keep freed memory, which raises the engine's RSS).
- **FLOP/s**: the step's matmul FLOPs counted analytically as in nanoGPT's `estimate_mfu`:
  6 x (12 x n_layer x n_embd^2 + n_embd x vocab) = 6 x {flops.gpt_matmul_params(s, s.vocab_size):,} per token
  (2 forward + 4 backward per weight) plus attention 12 x n_layer x T x n_embd per token, over
  {s.tokens} tokens; embeddings, norms, GELU, softmax and AdamW not counted. Peak:
  a {s.gemm}x{s.gemm} float32 matmul into a preallocated output, numpy (`np.matmul`) vs `torch.mm`,
  interleaved; the fastest block counts (a peak), while the GPT step's rate uses its median.
- **Threads**: numpy's OpenBLAS and torch's intra-op pool both set to {ctx.threads}. OpenBLAS and
  OpenMP threads spin while waiting; when other processes compete for the cores this makes small
  matmuls much slower, and the timings noisy — check the load averages below. The engine's fused
  kernels (GELU, attention) split their rows over its own threads (`STEPGRAD_NUM_THREADS`, default
  the usable cores), and the benchmark calls `engine.tune()`, as the `stepgrad` command does: it
  shortens OpenBLAS's idle spin to 2^18 cycles (`OPENBLAS_THREAD_TIMEOUT=18`) so that those threads
  get the cores, and has glibc's malloc keep freed memory for reuse (`engine/kernels/tuning.py`).
- Both frameworks run in the same process, so torch also runs with the engine's malloc tuning.
"""


def machine_section(machine):
    """The machine and software, as a markdown list."""
    return "\n".join(f"- {label}: {text}" for label, text in machine.items()) + "\n"


def busy_warning(load, cores):
    """A warning paragraph when the 1-minute load average `load` shows other work on the `cores`."""
    if load is None or load <= cores / 2:
        return ""
    return (f"\n**Busy machine**: the load average was {load:.2f} on {cores} cores when this run started. "
            "Other processes competed for the cores, so these figures are noisy, and multi-threaded BLAS "
            "(PyTorch's OpenMP pool especially) can be many times slower than on a quiet machine. "
            "The minimum over the repeats (see the spread) is the better guide to uncontended speed; "
            "re-run on a quiet machine before quoting these figures.\n")


def document(ctx, machine, command):
    """The whole `docs/benchmarks.md`: results, spread, equivalence, profile, method, machine, command."""
    torch_note = "" if ctx.torch is not None else "\nPyTorch was absent, so only the engine's figures are given.\n"
    torch_note += busy_warning(ctx.notes.get("load_at_start"), ctx.notes.get("cores", 1))
    return f"""# Benchmarks: the engine beside PyTorch, on numpy and on the compiled backend

Written by `{command}` on {machine['date']}; re-run that command to refresh it (do not edit by hand).
Reference for comparison, from a quiet run of this machine (DESIGN.md part C): PyTorch 31.6 ms per
GPT step, tiny ops 4.6 µs per op, MLP Adam step 127–191 µs.
{torch_note}
## Results

{results_table(ctx.rows)}

{RATIO_NOTE}

## Spread over the repeats

{spread_table(ctx.rows)}

## Do both frameworks compute the same step?

{equivalence_section(ctx.notes)}
## The compiled backend: which one, and what it costs

{backends_section(ctx.notes)}
## Where the time goes

{breakdown_section(ctx.notes)}
{profile_section(ctx.notes)}
## Method

{method_section(ctx)}
{memory_details(ctx.notes)}
## Machine

{machine_section(machine)}
## Reproduce

```bash
{command}
```
"""
