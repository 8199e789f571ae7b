"""stepgrad's optimizers: training as a sequence of single update steps.

The seed's step θ ← θ − α·∇J(θ) is `SGD`; `Adam`, `AdamW`, `RMSprop` and
`Adagrad` refine it with running statistics of the gradient; `LBFGS` and `Newton`
use curvature and take a closure. All follow PyTorch's `torch.optim` contract and
update rules. `OPTIMIZERS` maps the command line's names to the classes;
`get_optimizer` also finds the ones installed packages register and any
`module:Class`, and `optim.testing.check_optimizer` runs the generic checks on any
optimizer class.

    opt = optim.create("adamw", model.parameters(), lr=1e-3)
    loss.backward(); optim.clip_grad_norm_(model.parameters(), 1.0)
    opt.step(); opt.zero_grad()
"""
from optim import lr_scheduler, testing
from optim.adagrad import Adagrad
from optim.adam import Adam, AdamW
from optim.clip import clip_grad_norm_
from optim.lbfgs import LBFGS
from optim.newton import Newton
from optim.optimizer import Optimizer, ParamState
from optim.registry import (CLOSURE_OPTIMIZERS, ENTRY_POINT_GROUP, OPTIMIZERS, OptimizerNotFound, create,
                            get_optimizer, installed_optimizers, needs_closure)
from optim.rmsprop import RMSprop
from optim.serialization import flatten_state_dict, unflatten_state_dict
from optim.sgd import SGD
from optim.trajectories import plot_trajectories

__all__ = [
    "Optimizer", "ParamState", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "LBFGS", "Newton",
    "OPTIMIZERS", "CLOSURE_OPTIMIZERS", "get_optimizer", "create", "OptimizerNotFound", "needs_closure",
    "installed_optimizers", "ENTRY_POINT_GROUP", "clip_grad_norm_", "lr_scheduler", "testing",
    "flatten_state_dict", "unflatten_state_dict", "plot_trajectories",
]
