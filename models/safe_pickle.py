"""Read a pickle that holds plain data only (nanoGPT's ``meta.pkl``) without running any code.

A pickle is a small program: its ``GLOBAL``/``STACK_GLOBAL`` instructions name a
Python callable and ``REDUCE`` calls it, which is how a hostile file runs code on
``pickle.load``.  ``load_plain_pickle`` unpickles with an ``Unpickler`` whose
``find_class`` refuses every name and whose ``persistent_load`` refuses every
external reference, so no callable can ever be reached; then it walks the result
and accepts only dicts, lists, tuples, strings, ints, floats, bools and None.
The file size and the number of objects are bounded, so a small file cannot
make the walk run for long either.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

MAX_BYTES = 64 * 2**20  # a character vocabulary's meta.pkl is a few kilobytes
MAX_OBJECTS = 4_000_000
PLAIN_TYPES = (dict, list, tuple, str, int, float, bool, type(None))


class UnsafePickleError(ValueError):
    """A pickle that is damaged, too big, or holds anything but plain data; one-line message."""


class _PlainUnpickler(pickle.Unpickler):
    """An Unpickler that can build only the objects pickle's own opcodes make."""

    def find_class(self, module, name):
        """Refuse every class and function: plain data never needs one."""
        raise UnsafePickleError(f"it asks for {module}.{name}; only plain dicts, lists, tuples, "
                                "strings and numbers are accepted")

    def persistent_load(self, pid):
        """Refuse references to objects outside the file."""
        raise UnsafePickleError("it refers to an object outside the file (a persistent id)")


def load_plain_pickle(path: str | Path, max_bytes: int = MAX_BYTES):
    """Unpickle ``path``, accepting only plain data; raise ``UnsafePickleError`` otherwise.

    Nothing in the file is ever called or imported.  Files larger than
    ``max_bytes`` are refused before they are read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise UnsafePickleError(f"{path} is {size:,} bytes, more than the {max_bytes:,} a vocabulary needs")
    data = path.read_bytes()
    try:
        value = _PlainUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{path} is refused: {error}") from None
    except Exception as error:  # noqa: BLE001 - the C unpickler raises many kinds for damaged input
        reason = " ".join(str(error).split()) or type(error).__name__
        raise UnsafePickleError(f"{path} is not a readable pickle ({reason})") from None
    check_plain(value, str(path))
    return value


def check_plain(value, where: str = "value") -> None:
    """Raise ``UnsafePickleError`` unless ``value`` is made of plain data only (iterative walk).

    Shared sub-objects are visited once and at most ``MAX_OBJECTS`` are looked at.
    """
    stack, seen, count = [value], set(), 0
    while stack:
        item = stack.pop()
        if type(item) not in PLAIN_TYPES:
            raise UnsafePickleError(f"{where} holds a {type(item).__name__}; only plain dicts, lists, "
                                    "tuples, strings and numbers are accepted")
        if isinstance(item, (dict, list, tuple)):
            if id(item) in seen:
                continue
            seen.add(id(item))
            count += len(item)
            if count > MAX_OBJECTS:
                raise UnsafePickleError(f"{where} holds more than {MAX_OBJECTS:,} objects")
            stack.extend(item.keys() if isinstance(item, dict) else ())
            stack.extend(item.values() if isinstance(item, dict) else item)
