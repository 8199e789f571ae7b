"""The table of optimizers by name, for the command line and the generic tests."""
from optim.adagrad import Adagrad
from optim.adam import Adam, AdamW
from optim.lbfgs import LBFGS
from optim.newton import Newton
from optim.rmsprop import RMSprop
from optim.sgd import SGD

#: name -> class; the names the command line accepts (`--optimizer NAME`).
OPTIMIZERS = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "lbfgs": LBFGS,
    "newton": Newton,
}

#: the optimizers whose `step` needs a closure (second-order, several evaluations).
CLOSURE_OPTIMIZERS = frozenset({"lbfgs", "newton"})


def get_optimizer(name):
    """The optimizer class called `name` (case-insensitive), e.g. `get_optimizer('adam') is Adam`.

    Raises `ValueError: unknown optimizer 'adamx'; choose one of: sgd, adam, ...`.
    """
    key = str(name).strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key]


def create(name, params, **kwargs):
    """Build the optimizer called `name` on `params`: `create('adamw', model.parameters(), lr=3e-4)`."""
    return get_optimizer(name)(params, **kwargs)
