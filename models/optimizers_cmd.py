"""``stepgrad optimizers``: list the optimizers ``--optimizer`` accepts, or draw their paths.

Without ``-o`` it lists the built-in optimizers and those installed packages
register in the ``stepgrad.optimizers`` entry-point group, with what each
step needs; with ``-o FILE.png`` it draws optimizer paths on two test surfaces
(``optim.plot_trajectories``).
"""

from __future__ import annotations

from optim import OPTIMIZERS, OptimizerNotFound, get_optimizer, installed_optimizers, needs_closure, plot_trajectories

ANY_CLASS = ("any other: --optimizer module:Class (importable from here or PYTHONPATH) or "
             "--optimizer path/to/file.py:Class")


def optimizer_rows() -> list[tuple[str, str, str, str]]:
    """(name, class, what its step needs, where it comes from) for every optimizer a name selects."""
    rows = [(name, f"{cls.__module__}.{cls.__qualname__}", _needs(cls), "built in")
            for name, cls in OPTIMIZERS.items()]
    for name, point in installed_optimizers().items():
        source = f"installed: {point.dist.name} {point.dist.version}" if point.dist else "installed"
        try:
            needs = _needs(get_optimizer(name))
        except OptimizerNotFound as error:
            needs = f"unusable ({error})"
        rows.append((name, point.value, needs, source))
    return rows


def _needs(cls) -> str:
    return "a closure" if needs_closure(cls) else "gradients"


def main_optimizers(args) -> int:
    """Run ``stepgrad optimizers`` from parsed command-line ``args``; return the exit code."""
    if args.output:
        plot_trajectories(args.output, steps=args.steps)
        print(f"wrote {args.output}")
        return 0
    rows = [("name", "class", "step needs", "from"), *optimizer_rows()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    print(ANY_CLASS)
    return 0
