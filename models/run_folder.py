"""A run's output folder: made, checked writable, locked while the run lasts, and cleared of stale temporary files.

Two runs writing into one folder would interleave their metrics and replace each
other's checkpoints, so a training run holds an exclusive lock on the folder
itself (``flock`` on the directory) from before it reads anything there until
it ends.  A second run into the same folder is refused at once with a one-line
message; ``--resume`` asks about the lock (``check_unlocked``) before it looks
for the checkpoint, which a run that is just starting has not written yet.
The lock belongs to the kernel: it is released when the process ends, however
it ends (an exception, Ctrl-C, ``kill -9``), so no stale lock is ever left
behind, and nothing is written into the folder for it.

A run killed while writing a file leaves the temporary file of that write
(``.checkpoint.safetensors.XXXXXXXX.tmp``, see ``engine.files``).  Once the lock
is held no other run can be writing one, so the next run in the folder removes
those of its own files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from engine.files import temporary_name_pattern
from models.train_config import TrainError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not locked
    fcntl = None


def prepare_out_dir(out: str | Path) -> Path:
    """Create ``out`` if needed and check that files can be written there (``TrainError`` if not)."""
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise TrainError(f"cannot write to output directory {path}: {error.strerror or error}") from None
    return path


@contextlib.contextmanager
def locked_out_dir(out: str | Path) -> Iterator[Path]:
    """``prepare_out_dir(out)``, locked for the duration of the ``with`` block; yields the folder's Path.

    Raises ``TrainError`` if another process (or another ``with`` block) holds the lock.
    A folder this call made is removed again if the block leaves it empty (a run
    refused before it wrote anything leaves no trace).
    """
    made = not os.path.lexists(out)
    path = prepare_out_dir(out)
    if fcntl is None:
        try:
            yield path
        finally:
            _remove_if_empty(path, made)
        return
    fd = _open_folder(path)
    try:
        _lock(fd, path)
        try:
            yield path
        finally:
            _remove_if_empty(path, made)
    finally:
        os.close(fd)  # releases the lock


def check_unlocked(out: str | Path) -> None:
    """``TrainError``, as ``locked_out_dir`` gives it, if another run holds the lock of the folder ``out``.

    For ``--resume``: a run that is just starting holds the lock before it has
    written a checkpoint, and that run, not the missing checkpoint, is what the
    user needs to hear about.  The lock is taken and let go at once; a folder
    that does not exist is not locked (and is not made).
    """
    if fcntl is None:
        return
    path = Path(out)
    try:
        fd = _open_folder(path)
    except OSError:  # no such folder (or not a folder): nothing holds its lock
        return
    try:
        _lock(fd, path)
    finally:
        os.close(fd)  # releases the lock


def _open_folder(path: Path) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))


def _lock(fd: int, path: Path) -> None:
    """Lock the open folder ``fd`` (``flock``, exclusive), or raise ``TrainError`` if another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise TrainError(f"another stepgrad run is writing to {path} (it holds the folder's lock); "
                         f"wait for it to end, or choose another --out") from None


def _remove_if_empty(path: Path, made: bool) -> None:
    if made:
        with contextlib.suppress(OSError):  # not empty: the run wrote something
            os.rmdir(path)


def remove_stale_temporaries(folder: Path, names: Iterable[str]) -> list[str]:
    """Delete the temporary files that interrupted writes of ``names`` left in ``folder``; return their names.

    Only names made by ``engine.files.atomic_write_bytes`` for those targets are
    touched.  Call it while holding the folder's lock.
    """
    patterns = [temporary_name_pattern(name) for name in names]
    removed = []
    for entry in sorted(os.listdir(folder)):
        if any(p.fullmatch(entry) for p in patterns):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / entry)
                removed.append(entry)
    return removed
