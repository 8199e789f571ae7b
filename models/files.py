"""Writing files safely: every file stepgrad writes goes through ``atomic_write_bytes``.

A checkpoint, a metrics file being trimmed for ``--resume``, a picture or the
cached corpus is either the old file or the complete new one, never a partial
file, even if the program is killed halfway or the machine loses power: the
bytes go to a temporary file beside the target, which is flushed, fsynced and
renamed onto it, and then the directory is fsynced so the rename itself lasts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring).

    The new file keeps the old file's permissions, or gets what ``open`` would
    give a new file; the temporary file is removed if anything fails.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_all_or_nothing(files: dict[Path, bytes]) -> None:
    """Write several files as one change: each is staged beside its target, then all are renamed.

    If anything fails before the renames, the staged files and any folders created
    on the way are removed, so nothing of the change is left behind.
    """
    created: list[Path] = []
    staged: list[tuple[str, Path]] = []
    try:
        for path, content in files.items():
            _make_dirs(path.parent, created)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, file_mode(path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        for folder in reversed(created):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    for folder in {path.parent for path in files}:
        fsync_directory(folder)


def _make_dirs(folder: Path, created: list[Path]) -> None:
    """``mkdir -p folder``, remembering which folders were new (outermost first)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def file_mode(path: str | os.PathLike) -> int:
    """Permissions for a file written to ``path``: the existing file's, else ``0o666`` minus the umask."""
    try:
        return Path(path).stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
        os.umask(umask)
        return 0o666 & ~umask


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be fsynced)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
