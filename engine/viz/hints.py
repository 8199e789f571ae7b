"""Advice on module depth in the caller's own words.

A caption or a note that says modules were collapsed also says how to see more. A
Python caller writes that `depth=None` draws every op and a bigger `depth=` shows
more; the command line spells the same settings `--depth all` and `--depth`. The
drawing functions take a `DepthHint` and word their advice with it.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class DepthHint:
    """How the caller spells the depth setting: `every` draws every op, a bigger `more` shows more,
    and `limit` is the setting that bounds the number of nodes drawn.

    The default is Python's (`depth=None`, `depth=`, `max_nodes`); `stepgrad graph` and
    `stepgrad explore` pass `DepthHint("--depth all", "--depth", "--max-nodes")`.
    """
    every: str = "depth=None"
    more: str = "depth="
    limit: str = "max_nodes"

    def limit_at(self, n: int) -> str:
        """The node limit set to `n`, as the caller writes it: `max_nodes=300` or `--max-nodes 300`."""
        return f"{self.limit} {n}" if self.limit.startswith("-") else f"{self.limit}={n}"
