"""``stepgrad exercise N FILE``: check a learner's solution to exercise N of docs/exercises.md.

Prints ``pass`` and what was checked (exit 0), or ``not yet`` and the one thing to
fix next (exit 1).
"""

from __future__ import annotations

import sys

from models.exercises import EXERCISES, NotYet, run_check


def main_exercise(args) -> int:
    """Run ``stepgrad exercise`` from parsed command-line ``args``; return the exit code."""
    head = f"exercise {args.number}, {EXERCISES[args.number].TITLE}"
    try:
        passed = run_check(args.number, args.file)
    except NotYet as problem:
        print(f"{head}: not yet: {problem}", file=sys.stdout)
        return 1
    print(f"{head}: pass", file=sys.stdout)
    for line in passed:
        print(f"  - {line}", file=sys.stdout)
    return 0
