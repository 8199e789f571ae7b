"""``metrics.jsonl``: one JSON object per training step, crash-tolerant.

Each line holds ``step`` (int), ``loss``, ``lr``, ``ms`` (wall milliseconds of
the step) and, on eval steps, ``val_loss``, plus any extra keys.  Lines are
flushed as they are written, so a crash loses at most the line being written;
``read_metrics`` skips such a torn last line.  Non-finite numbers are written
as ``null`` (the file stays strict JSON) and read back as ``nan``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from models.files import atomic_write_bytes

FLOAT_FIELDS = ("loss", "lr", "ms", "val_loss")


class MetricsError(ValueError):
    """A metrics file that cannot be read; the message is one line."""


class MetricsWriter:
    """Write one JSON line per step to ``path``.

    ``append=False`` starts a new file.  ``append=True`` continues an existing
    one (for ``--resume``): a torn last line is dropped and, if
    ``resume_step`` is given, so is every record with ``step > resume_step``,
    so steps that are re-run after a crash are not duplicated.  Use as a
    context manager or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False,
                 resume_step: int | None = None):
        self.path = Path(path)
        if append and self.path.exists():
            _keep_through(self.path, resume_step)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8",
                          newline="\n", buffering=1)

    def write(self, step: int, loss: float, lr: float, ms: float,
              val_loss: float | None = None, **extra: Any) -> None:
        """Append the record of one step and flush it to the operating system."""
        record = {"step": int(step), "loss": loss, "lr": lr, "ms": ms}
        if val_loss is not None:
            record["val_loss"] = val_loss
        record.update(extra)
        line = json.dumps({key: _json_value(value) for key, value in record.items()},
                          allow_nan=False)
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> "MetricsWriter":
        """Return the writer itself."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the file."""
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Return the records of a metrics file in order, skipping a torn last line.

    A damaged line anywhere else raises ``MetricsError`` naming file and line.
    """
    return [record for record, _ in _records(Path(path))]


def _records(path: Path) -> Iterator[tuple[dict, str]]:
    """Yield ``(record, raw line)`` for every complete line."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse(line)
        if record is None:
            if number == len(lines):
                return  # torn by a crash mid-write
            raise MetricsError(f"{path} line {number} is not a metrics record")
        yield record, line


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or type(record.get("step")) is not int:
        return None
    for key in FLOAT_FIELDS:
        if key in record and record[key] is None:
            record[key] = math.nan
    return record


def _keep_through(path: Path, resume_step: int | None) -> None:
    """Rewrite ``path`` keeping complete records with ``step <= resume_step``."""
    kept = [line for record, line in _records(path)
            if resume_step is None or record["step"] <= resume_step]
    atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode("utf-8"))


def _json_value(value: Any) -> Any:
    """Numpy scalars become Python numbers; nan and inf become None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
