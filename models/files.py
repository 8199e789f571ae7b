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
