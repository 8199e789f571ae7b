"""Advice on module depth in the caller's own words.

A caption or a note that says modules were collapsed also says how to see more. A
Python caller writes that `depth=None` draws every op and a bigger `depth=` shows
more; the command line spells the same settings `--depth all` and `--depth`. The
drawing functions take a `DepthHint` and word their advice with it.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class DepthHint:
    """How the caller spells the depth setting: `every` draws every op, a bigger `more` shows more.

    The default is Python's (`depth=None`, `depth=`); `stepgrad graph` and `stepgrad
    explore` pass `DepthHint("--depth all", "--depth")`.
    """
    every: str = "depth=None"
    more: str = "depth="
