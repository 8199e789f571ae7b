"""A quick check of the GPT training step: numpy, numba and PyTorch interleaved, in a few seconds.

    python -m bench.step                  # 7 rounds of 3 steps each, every contender
    python -m bench.step --repeats 15 --only numba,torch

The same step as `python -m bench` (nanoGPT's CPU recipe, bench/gpt_case.py), timed
the same way (bench/timing.py), without the profiles, the other figures and the
report: one line per contender with its median ms per step, each phase's median and
the ratio to PyTorch's step.
"""
import argparse
import statistics

from bench import backends, gpt_case
from bench.config import RECIPE
from bench.threads import set_threads
from bench.timing import interleave
from bench.torch_ref import load_torch
from engine import tune

CONTENDERS = ("numpy", "numba", "torch")


def parse_args(argv):
    """The command line's options (see `--help`)."""
    parser = argparse.ArgumentParser(prog="python -m bench.step", description="Time the GPT training step on "
                                     "each kernel backend and in PyTorch, interleaved; print medians.")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved blocks per contender (default 7)")
    parser.add_argument("--number", type=int, default=3, help="steps per block (default 3)")
    parser.add_argument("--only", default=",".join(CONTENDERS), help=f"comma-separated, from {','.join(CONTENDERS)}")
    parser.add_argument("--threads", type=int, default=2, help="threads of numpy's OpenBLAS and of torch (default 2)")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in args.only if name not in CONTENDERS]
    if unknown or not args.only:
        parser.error(f"--only: unknown contender(s) {', '.join(unknown) or '(none given)'}; "
                     f"choose from {','.join(CONTENDERS)}")
    if args.repeats < 1 or args.number < 1 or args.threads < 1:
        parser.error("--repeats, --number and --threads must be at least 1")
    return args


def main(argv=None):
    """Time the step of each contender asked for and print one line each; returns the exit code."""
    args = parse_args(argv)
    torch = load_torch() if "torch" in args.only else None
    tune()
    set_threads(args.threads, torch)
    batches, vocab = gpt_case.make_batches(RECIPE)
    s = RECIPE
    steps = {}
    for name in args.only:
        if name == "torch":
            if torch is None:
                print("bench.step: PyTorch is not installed; timing the engine only")
                continue
            model, _ = gpt_case.build_engine(s, vocab)
            tmodel, topt = gpt_case.build_torch(torch, s, vocab, init_from=model)
            steps[name] = gpt_case.torch_step(torch, tmodel, topt, batches, s.grad_clip)
        elif name == "numba" and not backends.fast_available():
            print("bench.step: numba is not installed; skipping it")
        else:
            model, opt = gpt_case.build_engine(s, vocab)
            steps[name] = gpt_case.engine_step(model, opt, batches, s.grad_clip)
    contenders = {name: step if name == "torch" else backends.on_backend(name, step) for name, step in steps.items()}
    timings = interleave(contenders, args.repeats, args.number, warmup=3, settle=0.25)
    reference = timings["torch"].median if "torch" in timings else None
    print(f"{'':8} {'step ms':>8} {'/torch':>7}  " + "  ".join(f"{p:>9}" for p in gpt_case.PHASES))
    for name, step in steps.items():
        ratio = f"{timings[name].median / reference:7.3f}" if reference else f"{'':7}"
        phases = "  ".join(f"{statistics.median(step.phases[p][3:]) * 1e3:9.2f}" for p in gpt_case.PHASES)
        print(f"{name:8} {timings[name].median * 1e3:8.2f} {ratio}  {phases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
