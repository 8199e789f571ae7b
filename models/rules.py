"""The rules a number setting must follow: one place for the command line and for what a checkpoint brings back.

A ``Rule`` is an argparse ``type`` (``--steps 0`` is refused with "'0' is not a
positive integer") and also checks a value that did not come from text, such
as a setting read from a checkpoint's JSON, where ``5.7`` steps, ``true`` as a
size or ``1e999`` as a learning rate must be refused just the same.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Rule:
    """A kind of number (``int`` or ``float``), a test it must pass, and how to say so ("a positive integer")."""

    kind: type
    test: Callable[[Any], bool]
    text: str

    @property
    def __name__(self) -> str:  # argparse names a type by this in some messages
        """What the rule asks for, e.g. 'a positive integer'."""
        return self.text

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is a finite number of the right kind passing the test.

        The right kind: an int for ``int``, never a bool.
        """
        kinds = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return False
        if self.kind is float:
            try:
                value = float(value)  # an int beyond float's range is not a usable float setting
            except OverflowError:
                return False
            if not math.isfinite(value):
                return False
        return bool(self.test(value))

    def __call__(self, text: str):
        """Parse command-line ``text``; ``argparse.ArgumentTypeError`` unless the rule holds."""
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.text}") from None
        if not self.holds(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {self.text}")
        return value


POSITIVE_INT = Rule(int, lambda v: v > 0, "a positive integer")
NONNEG_INT = Rule(int, lambda v: v >= 0, "an integer >= 0")
POSITIVE_FLOAT = Rule(float, lambda v: v > 0, "a positive number")
NONNEG_FLOAT = Rule(float, lambda v: v >= 0, "a number >= 0")
PROBABILITY = Rule(float, lambda v: 0 <= v < 1, "a probability in [0, 1)")
