"""Text a model wrote, shown safely: escaped where it could take over a terminal or fail to encode.

A checkpoint's vocabulary comes from whoever made the file.  Printed raw to a
terminal, an escape character (ESC, U+001B) starts a control sequence that can
retitle the window, hide or fake output, and bidirectional controls (U+202E)
reorder what is shown.  On a terminal those characters are printed as
Python-style escapes (``\\x1b``, ``\\u202e``); newlines and tabs stay as they
are.  Written to a file or a pipe, text is left as it is, so it can be
processed further; anywhere, a character the stream's encoding cannot hold (a
lone surrogate such as U+D800 in UTF-8) is escaped instead of failing.
"""

from __future__ import annotations

import unicodedata
from typing import Callable, TextIO

_KEPT = frozenset("\n\t")
_BIDI_CONTROLS = frozenset(map(chr, (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))))


def shown_on(stream: TextIO) -> Callable[[str], str]:
    """A function giving the text to write to ``stream`` for a text (see the module docstring)."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    encoding = getattr(stream, "encoding", None) or "utf-8"

    def show(text: str) -> str:
        if terminal:
            text = "".join(escape(c) if is_control(c) else c for c in text)
        return text.encode(encoding, "backslashreplace").decode(encoding)

    return show


def is_control(c: str) -> bool:
    """Whether the character ``c`` controls a terminal rather than shows a glyph (newline and tab excepted)."""
    return c not in _KEPT and (unicodedata.category(c) in ("Cc", "Cs") or c in _BIDI_CONTROLS)


def escape(c: str) -> str:
    """``c`` as a Python escape: ``\\x1b``, ``\\u202e``, ``\\U0010ffff``."""
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
