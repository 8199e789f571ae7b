"""`python -m bench`: measure the engine and PyTorch side by side and write `docs/benchmarks.md`.

    python -m bench                        # everything at nanoGPT's CPU recipe, doc written
    python -m bench --quick --only gpt,tiny
    python -m bench --data /path/to/input.txt --repeats 21

`main(argv)` is the entry point (for a `stepgrad bench` subcommand too): it
returns 0, prints the table and writes the markdown report to `--out`.
"""
import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path

from bench import cases, report
from bench.config import RECIPE, TINY, Plan
from bench.gpt_case import make_batches
from bench.machine import describe
from bench.threads import set_threads
from bench.torch_ref import load_torch, torch_settings
from engine import tune
from models.train import TrainError, prepare_out_dir

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
DEFAULT_REPEATS = 21
QUICK_REPEATS = 3


def parse_args(argv):
    """The command line's options (see `--help`)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Time the engine beside PyTorch (interleaved, medians) and "
        "write the table, method and machine to a markdown file.")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPEATS} repeats of short blocks (CI)")
    parser.add_argument("--repeats", type=int, help=f"interleaved blocks per figure (default {DEFAULT_REPEATS})")
    parser.add_argument("--only", default=",".join(cases.CASES),
                        help=f"comma-separated figures to run, from {','.join(cases.CASES)} (default: all)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="markdown report to write (default docs/benchmarks.md)")
    parser.add_argument("--data", help="a text file: GPT batches are windows of it instead of random tokens")
    parser.add_argument("--threads", type=int, default=2, help="threads of numpy's OpenBLAS and of torch (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="behave as if PyTorch were not installed")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes, for smoke tests (figures not comparable)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in only if name not in cases.CASES]
    if unknown or not only:
        parser.error(f"--only: unknown figure(s) {', '.join(unknown) or '(none given)'}; "
                     f"choose from {','.join(cases.CASES)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    args.only = only
    return args


def make_plan(args):
    """Repeats and block lengths from --quick/--repeats."""
    if args.quick:
        return Plan(repeats=args.repeats or QUICK_REPEATS, gpt_number=1, tiny_number=5, mlp_number=10,
                    gemm_number=1, warmup=1, settle=0.05, profile_steps=2)
    return Plan(repeats=args.repeats or DEFAULT_REPEATS)


def main(argv=None):
    """Run the selected figures, print the table and write the report; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    out = Path(args.out)
    try:
        prepare_out_dir(out.parent)  # an unwritable --out fails now, not after the run
    except TrainError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    torch = load_torch(hide=args.no_torch)
    tuned = tune()  # as the `stepgrad` command does; before set_threads, since it restarts OpenBLAS's workers
    set_threads(args.threads, torch)
    sizes = TINY if args.tiny else RECIPE
    try:
        batches, vocab = make_batches(sizes, args.data)
    except (OSError, ValueError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    sizes = dataclasses.replace(sizes, vocab_size=vocab)
    machine = describe(torch, torch_settings(torch), tuned)
    ctx = cases.Context(sizes, make_plan(args), torch, batches, args.threads)
    ctx.notes["cores"] = os.cpu_count() or 1
    ctx.notes["data"] = args.data
    ctx.notes["load_at_start"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"benchmark: {', '.join(args.only)}; torch {'absent' if torch is None else torch.__version__}; "
          f"{ctx.plan.repeats} repeats", flush=True)
    for name, case in cases.CASES.items():
        if name in args.only:
            print(f"  measuring {name} ...", flush=True)
            case(ctx)
    if hasattr(os, "getloadavg"):
        machine["load average at end (1, 5, 15 min)"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(report.console_table(ctx.rows))
    out.write_text(report.document(ctx, machine, shlex.join(["python", "-m", "bench", *argv])))
    print(f"wrote {out}")
    return 0
