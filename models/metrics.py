"""``metrics.jsonl``: one JSON object per training step, crash-tolerant.

Each line holds ``step`` (int), ``loss``, ``lr``, ``ms`` (wall milliseconds of
the step) and, on eval steps, ``val_loss``, plus any extra keys.  Lines are
flushed as they are written, so a crash loses at most the line being written;
``read_metrics`` skips such a torn last line.  Non-finite numbers are written
as ``null`` (the file stays strict JSON) and read back as ``nan``.

The file is never written through a symbolic link: a new run replaces whatever
has the name with a new regular file (a link's target is left alone), it is
opened with ``O_NOFOLLOW``, and a resumed run refuses a link in its place.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from engine.files import FileCheckError, atomic_write_bytes, open_regular_file

FLOAT_FIELDS = ("loss", "lr", "ms", "val_loss")


class MetricsError(ValueError):
    """A metrics file that cannot be read; the message is one line."""


class MetricsWriter:
    """Write one JSON line per step to ``path``.

    ``append=False`` starts a new file.  ``append=True`` continues an existing
    one (for ``--resume``), repairing it first: it keeps the complete records
    in increasing step order up to ``resume_step`` (if given) and drops damaged
    lines, repeated or out-of-order steps and steps after ``resume_step``
    (re-run after a crash); ``repair_note`` then says what was dropped (None if
    nothing was).  Use as a context manager or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False,
                 resume_step: int | None = None):
        self.path = Path(path)
        self.repair_note = None
        if append and (self.path.exists() or self.path.is_symlink()):
            self.repair_note = _keep_through(self.path, resume_step)
        else:
            atomic_write_bytes(self.path, b"")  # a new regular file, even where a link had the name
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self._file = open(os.open(self.path, flags), "a", encoding="utf-8", newline="\n", buffering=1)

    def write(self, step: int, loss: float, lr: float, ms: float,
              val_loss: float | None = None, **extra: Any) -> None:
        """Append the record of one step and flush it to the operating system."""
        record = {"step": int(step), "loss": loss, "lr": lr, "ms": ms}
        if val_loss is not None:
            record["val_loss"] = val_loss
        record.update(extra)
        line = json.dumps({key: _json_value(value) for key, value in record.items()},
                          allow_nan=False)
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except OSError as error:  # a full disk: name the file, not just "[Errno 28]"
            raise OSError(error.errno, error.strerror, str(self.path)) from None

    def close(self) -> None:
        """Close the file (an error names it, as ``write``'s do)."""
        try:
            self._file.close()
        except OSError as error:  # the unwritten rest of a line that hit a full disk is flushed again here
            raise OSError(error.errno, error.strerror, str(self.path)) from None

    def __enter__(self) -> "MetricsWriter":
        """Return the writer itself."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Close the file."""
        self.close()


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Return the records of a metrics file in order, skipping a torn last line.

    A damaged line anywhere else raises ``MetricsError`` naming file and line;
    so does a path that is a symbolic link or not a regular file.
    """
    path = Path(path)
    records = []
    for number, record, last, _ in _lines(path):
        if record is None and not last:
            raise MetricsError(f"{path} line {number} is not a metrics record")
        if record is not None:
            records.append(record)
    return records


def _lines(path: Path) -> Iterator[tuple[int, dict | None, bool, str]]:
    """Yield ``(line number, record or None if damaged, is the last line, the line)`` for every non-blank line."""
    try:
        with open_regular_file(path, follow_links=False) as f:
            text = f.read().decode("utf-8", errors="replace")
    except FileCheckError as error:
        raise MetricsError(f"{path} is {error.strerror}") from None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, _parse(line), number == len(lines), line


def _parse(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        return None
    if not isinstance(record, dict) or type(record.get("step")) is not int:
        return None
    for key in FLOAT_FIELDS:
        if key in record and record[key] is None:
            record[key] = math.nan
    return record


def _keep_through(path: Path, resume_step: int | None) -> str | None:
    """Rewrite ``path`` keeping the complete records in increasing step order up to ``resume_step``.

    Returns a note of what was dropped, or None.
    """
    kept, damaged, later, disordered, last_step = [], [], 0, 0, None
    for number, record, last, line in _lines(path):
        if record is None:
            if not last:  # a torn last line is the normal trace of a crash
                damaged.append(number)
        elif resume_step is not None and record["step"] > resume_step:
            later += 1
        elif last_step is not None and record["step"] <= last_step:
            disordered += 1
        else:
            kept.append(line)
            last_step = record["step"]
    atomic_write_bytes(path, "".join(line + "\n" for line in kept).encode("utf-8"))
    dropped = []
    if damaged:
        lines = ", ".join(map(str, damaged[:5])) + (" ..." if len(damaged) > 5 else "")
        dropped.append(f"{len(damaged)} damaged line(s) (line {lines})")
    if disordered:
        dropped.append(f"{disordered} record(s) whose step repeats or goes back")
    if later:
        dropped.append(f"{later} record(s) after step {resume_step}, the checkpoint's step")
    if not dropped:
        return None
    return f"{path}: kept {len(kept)} record(s); dropped " + ", ".join(dropped)


def _json_value(value: Any) -> Any:
    """Numpy scalars become Python numbers; nan and inf become None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
