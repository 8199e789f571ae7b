"""Loading a learner's file, and the small helpers every exercise's check uses."""
import importlib.util
import sys
import traceback
from pathlib import Path

import numpy as np

from engine import GradcheckError, enable_grad, grad


class NotYet(AssertionError):
    """The learner's file does not solve the exercise yet; the message is one line saying what is wrong."""


def load_solution(path):
    """The learner's file at ``path`` run as a module (``NotYet`` if it does not run, ``OSError`` if unreadable)."""
    path = Path(path)
    source = path.read_text(encoding="utf-8")  # OSError (missing, a folder, unreadable) is the command's to report
    name = f"stepgrad_exercise_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)
    except Exception as error:  # noqa: BLE001 - any error in the learner's file is reported in one line
        raise NotYet(f"{path.name} does not run: {where(error, path)}") from None
    return module


def where(error, path):
    """``ErrorType: message (file line N)`` for an error raised in the learner's file (or below it)."""
    line = getattr(error, "lineno", None) if isinstance(error, SyntaxError) else None
    if line is None:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == Path(path)]
        line = frames[-1].lineno if frames else None
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}" + (f" ({Path(path).name} line {line})" if line else "")


def attribute(solution, name, kind, what):
    """``solution.name``, checked to be a ``kind`` (a class: a subclass of it), or ``NotYet`` saying so."""
    value = getattr(solution, name, None)
    ok = isinstance(value, type) and issubclass(value, kind) if isinstance(kind, type) else callable(value)
    if not ok:
        raise NotYet(f"your file has no {what}")
    return value


def run(solution, description, step):
    """``step()``, with any error in the learner's code turned into ``NotYet`` naming ``description``."""
    try:
        return step()
    except (NotYet, GradcheckError):  # the check's own verdicts
        raise
    except NotImplementedError:
        raise NotYet(f"{description}: not written yet (it raises NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - the learner's bug, in one line
        raise NotYet(f"{description}: {where(error, solution.__file__)}") from None


def fmt(value):
    """A number or small array as a short text."""
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return "[" + ", ".join(fmt(v) for v in a) + "]"


def derivative(fn, *inputs):
    """d sum(fn(*inputs)) / d inputs[0], with its own graph (recorded even inside gradcheck's no_grad)."""
    with enable_grad():
        return grad(fn(*inputs).sum(), [inputs[0]], create_graph=True)[0]
