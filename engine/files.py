"""Files written whole or not at all, never through a link, and files read only when they are regular.

Every file stepgrad writes (a checkpoint, a picture, a page, a trimmed metrics
file) goes through ``atomic_write_bytes``: the bytes go to a new temporary file
beside the target, which is flushed, fsynced and renamed onto it, and then the
directory is fsynced so that the rename itself lasts.  A reader, a crash or a
kill sees the old file or the complete new one, never half of one.  The rename
replaces whatever has the target's name, a symbolic link included, so nothing
is ever written through a link.  The temporary file is named
``.NAME.XXXXXXXX.tmp`` (``temporary_name_pattern``), so a folder's owner can
recognise and remove one left by a killed process.

``read_regular_file`` opens without blocking and reads only regular files, up
to a size limit: a FIFO, a device such as ``/dev/zero`` or an endless ``/proc``
file cannot hang or exhaust a reader.
"""
import errno
import os
import re
import stat
import tempfile
from pathlib import Path

_TEMP_PREFIX, _TEMP_SUFFIX = ".", ".tmp"


class FileCheckError(OSError):
    """A file that is not a regular file, is too large, or is a link where none may be; one-line message."""


class FormatError(ValueError):
    """A file name whose suffix names no format the writer knows; one-line message."""


def format_from_suffix(path, known, default):
    """The format to write `path` in: its suffix (lower case) if in `known`, `default` if it has none.

    Raises FormatError for any other suffix, so that one format is never
    written under another's name (SVG bytes in a `.pdf`).
    """
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if not suffix:
        return default
    if suffix not in known:
        raise FormatError(f"cannot write {os.fspath(path)}: its suffix .{suffix} names no format this command "
                          f"writes ({', '.join(known)})")
    return suffix


def atomic_write_bytes(path, data):
    """Write `data` (bytes, or anything with the buffer protocol) to `path` atomically (see the module docstring).

    The new file keeps the old regular file's permissions, or gets what `open`
    would give a new file. If anything fails, the temporary file is removed and
    the OSError names `path` (e.g. "No space left on device: out/checkpoint.safetensors").
    """
    write_atomically(path, lambda f: f.write(data))


def write_atomically(path, write):
    """Like `atomic_write_bytes`, with `write(f)` filling the open binary temporary file `f`."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_TEMP_PREFIX}{path.name}.", suffix=_TEMP_SUFFIX)
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode(path))
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise
    fsync_directory(folder)


def write_all_or_nothing(files):
    """Write several files as one change: each is staged beside its target, then all are renamed.

    `files` maps paths to bytes. If anything fails before the renames, the staged
    files and any folders created on the way are removed, so nothing of the change
    is left behind; as with `atomic_write_bytes`, a link at a target is replaced,
    never written through.
    """
    files = {Path(path): content for path, content in files.items()}
    created = []
    staged = []
    try:
        for path, content in files.items():
            _make_dirs(path.parent, created)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_TEMP_PREFIX}{path.name}.", suffix=_TEMP_SUFFIX)
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


def _make_dirs(folder, created):
    """`mkdir -p folder`, remembering which folders were new (outermost first)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def _naming(error, path):
    """`error` as an OSError whose filename is `path` (the one the user knows), same errno and text."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror or os.strerror(error.errno), os.fspath(path))


def temporary_name_pattern(name):
    """A compiled regex matching the temporary files `atomic_write_bytes` makes for a target called `name`."""
    return re.compile(re.escape(f"{_TEMP_PREFIX}{name}.") + r"[A-Za-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))


def file_mode(path):
    """Permissions for a file written to `path`: the existing regular file's, else 0o666 minus the umask."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return st.st_mode & 0o777
    except OSError:
        pass
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def fsync_directory(directory):
    """Make a rename in `directory` durable (a no-op where directories cannot be fsynced)."""
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


def open_regular_file(path, follow_links=True):
    """Open `path` for reading in binary mode if it is a regular file; return the file object.

    The open never blocks (a FIFO without a writer would), and with
    `follow_links=False` a symbolic link is refused. Raises FileNotFoundError,
    IsADirectoryError, PermissionError, or FileCheckError. The `strerror` of the
    last two completes "PATH is ...": "a FIFO (named pipe), not a regular file".
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP and not follow_links:
            raise FileCheckError(errno.ELOOP, "a symbolic link, which stepgrad does not follow here",
                                 os.fspath(path)) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", os.fspath(path))
        raise FileCheckError(errno.EINVAL, f"{describe_mode(mode)}, not a regular file", os.fspath(path))
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular_file(path, max_bytes, follow_links=True):
    """The bytes of the regular file `path`, refusing more than `max_bytes` (see `open_regular_file`).

    A file above the limit raises FileCheckError whose message gives its size
    and the limit; nothing beyond `max_bytes + 1` bytes is ever read.
    """
    with open_regular_file(path, follow_links) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise too_large(path, size, max_bytes)
        data = f.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise too_large(path, len(data), max_bytes)
    return data


def too_large(path, size, max_bytes):
    """The FileCheckError for a file of `size` bytes above a limit of `max_bytes`."""
    return FileCheckError(errno.EFBIG, f"{format_bytes(size)}, above the limit of {format_bytes(max_bytes)}",
                          os.fspath(path))


def describe_mode(mode):
    """What a file of this `st_mode` is, in words: 'a FIFO (named pipe)', 'a character device', ..."""
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
             (stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"))
    return next((text for test, text in kinds if test(mode)), "a special file")


def format_bytes(n):
    """A byte count for people: '812 bytes', '53.2 kB', '1.20 GB' (powers of 1000)."""
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        n /= 1000
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
