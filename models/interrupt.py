"""Ctrl-C or SIGTERM during training: finish the step, save, then stop.

SIGTERM is what ``kill``, ``docker stop`` and batch schedulers send, so it is
treated like Ctrl-C (SIGINT).  The training loop runs inside
``DeferredInterrupt``: the first signal only sets a flag, which the loop checks
after each completed step (then it writes a checkpoint and raises
``TrainingInterrupted``); a second one stops at once, which is still safe:
files are written atomically, so the last checkpoint stays whole.

Outside the training loop, ``terminate_like_interrupt`` makes SIGTERM raise
``Terminated`` (a ``KeyboardInterrupt``), so a command that is killed unwinds
like one stopped by Ctrl-C: ``finally`` blocks run and a file being written
leaves no temporary file behind.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM stopped the run after a completed step; a checkpoint was written."""

    def __init__(self, step: int, out: Path, signum: int = signal.SIGINT):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out}")
        self.step, self.out, self.signum = step, out, signum


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised by the handler ``terminate_like_interrupt`` installs)."""


@contextlib.contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """Inside the ``with`` block SIGTERM raises ``Terminated``; outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame) -> None:
    raise Terminated


class DeferredInterrupt:
    """Turn the first SIGINT or SIGTERM into ``requested = True`` (``signum`` says which); a second one raises.

    The second raises ``KeyboardInterrupt`` (``Terminated`` for SIGTERM).  A
    context manager; the previous handlers come back on exit.  Only the main
    thread receives signals: elsewhere it does nothing.
    """

    def __init__(self):
        self.requested = False
        self.signum = None
        self._previous = {}

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, *exc_info) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
