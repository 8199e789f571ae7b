"""Ctrl-C during training: finish the step, save, then stop.

The training loop runs inside ``DeferredInterrupt``: the first Ctrl-C only sets
a flag, which the loop checks after each completed step (then it writes a
checkpoint and raises ``TrainingInterrupted``); a second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path


class TrainingInterrupted(Exception):
    """Ctrl-C stopped the run after a completed step; a checkpoint was written."""

    def __init__(self, step: int, out: Path):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {out}")
        self.step, self.out = step, out


class DeferredInterrupt:
    """Turn the first Ctrl-C into ``requested = True``; a second one raises KeyboardInterrupt.

    A context manager; the previous SIGINT handler comes back on exit.  Only
    the main thread receives signals: elsewhere it does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc_info) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
