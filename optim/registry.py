"""Optimizers by name: the built-in table, installed packages, and `module:Class` from anywhere.

`get_optimizer(spec)` turns what a user writes after `--optimizer` into a class:

- a built-in name from `OPTIMIZERS` (`adamw`), any case;
- a name an installed package registers in the `stepgrad.optimizers` entry-point
  group (in its pyproject.toml: `[project.entry-points."stepgrad.optimizers"]`,
  `lion = "my_package.lion:Lion"`);
- `module:Class`, the module importable from the current directory or
  PYTHONPATH (`my_optimizers:Lion`), or `path/to/file.py:Class`.

Every failure is an `OptimizerNotFound` whose message is one line naming the problem.
"""
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from optim.adagrad import Adagrad
from optim.adam import Adam, AdamW
from optim.lbfgs import LBFGS
from optim.newton import Newton
from optim.optimizer import Optimizer
from optim.rmsprop import RMSprop
from optim.sgd import SGD

#: name -> class: the built-in optimizers, by the names the command line accepts (`--optimizer NAME`).
OPTIMIZERS = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "lbfgs": LBFGS,
    "newton": Newton,
}

#: the entry-point group in which installed packages register optimizers
ENTRY_POINT_GROUP = "stepgrad.optimizers"


class OptimizerNotFound(ValueError):
    """An optimizer spec that names no usable optimizer class; the message is one line."""


def needs_closure(cls):
    """True if `cls.step` requires a closure (LBFGS, Newton): its `closure` parameter has no default."""
    closure = inspect.signature(cls.step).parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


#: the built-in optimizers whose `step` needs a closure (second-order, several evaluations)
CLOSURE_OPTIMIZERS = frozenset(name for name, cls in OPTIMIZERS.items() if needs_closure(cls))


def installed_optimizers():
    """{name: entry point} of the optimizers installed packages register (`stepgrad.optimizers`).

    Names are lower-cased; one that a built-in optimizer already has is left out.
    """
    found = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        name = point.name.strip().lower()
        if name not in OPTIMIZERS:
            found.setdefault(name, point)
    return found


def get_optimizer(spec):
    """The optimizer class `spec` names (see the module docstring); `get_optimizer('adam') is Adam`.

    Raises `OptimizerNotFound`, e.g. `unknown optimizer 'adamx'; choose one of:
    sgd, adam, ... or give module:Class`.
    """
    if isinstance(spec, type):
        return _checked(spec, spec.__name__)
    text = str(spec).strip()
    if ":" in text:
        return _from_module(text)
    key = text.lower()
    if key in OPTIMIZERS:
        return OPTIMIZERS[key]
    installed = installed_optimizers()
    if key in installed:
        point = installed[key]
        try:
            cls = point.load()
        except Exception as error:  # noqa: BLE001 - any failure of the package's import, in one line
            raise OptimizerNotFound(f"optimizer {text!r} from an installed package ({point.value}) cannot be "
                                    f"loaded: {_one_line(error)}") from None
        return _checked(cls, f"{text!r} ({point.value})")
    names = [*OPTIMIZERS, *installed]
    raise OptimizerNotFound(f"unknown optimizer {text!r}; choose one of: {', '.join(names)}, or give "
                            f"module:Class (a class in your own module)")


def create(spec, params, **kwargs):
    """Build the optimizer `spec` names on `params`: `create('adamw', model.parameters(), lr=3e-4)`."""
    return get_optimizer(spec)(params, **kwargs)


def _from_module(spec):
    """The class of a `module:Class` or `path/file.py:Class` spec."""
    where, _, name = spec.rpartition(":")
    if not where or not name:
        raise OptimizerNotFound(f"optimizer {spec!r} is not of the form module:Class or path/file.py:Class")
    module = _load_file(where) if where.endswith(".py") else _import(where)
    cls = getattr(module, name, None)
    if cls is None:
        present = sorted(n for n, v in vars(module).items()
                         if isinstance(v, type) and issubclass(v, Optimizer) and v.__module__ == module.__name__)
        hint = f" (it defines: {', '.join(present)})" if present else " (it defines no Optimizer subclass)"
        raise OptimizerNotFound(f"{where} has no class {name!r}{hint}")
    return _checked(cls, repr(spec))


def _import(module_name):
    """Import `module_name`, looking in the current directory too (as `python -m` would)."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise OptimizerNotFound(f"no module named {module_name!r} (looked in the current directory and on "
                                    f"PYTHONPATH)") from None
        raise OptimizerNotFound(f"importing {module_name!r} failed: {_one_line(error)}") from None
    except Exception as error:  # noqa: BLE001 - the user's module failed to import; say why in one line
        raise OptimizerNotFound(f"importing {module_name!r} failed: {_one_line(error)}") from None
    finally:
        if added:
            sys.path.remove(cwd)


def _load_file(path_text):
    """Run the Python file `path_text` as a module (once per file) and return it."""
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise OptimizerNotFound(f"optimizer file not found: {path_text}")
    module_name = f"stepgrad_optimizer_file_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickle look classes up there
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's file failed to run; say why in one line
        del sys.modules[module_name]
        raise OptimizerNotFound(f"running {path_text} failed: {_one_line(error)}") from None
    return module


def _checked(cls, label):
    """`cls` itself if it is an `Optimizer` subclass, else `OptimizerNotFound` naming what it is."""
    if isinstance(cls, type) and issubclass(cls, Optimizer):
        return cls
    what = "a class" if isinstance(cls, type) else f"a {type(cls).__name__}"
    raise OptimizerNotFound(f"{label} is not an optimizer: it is {what}, not a subclass of optim.Optimizer")


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
