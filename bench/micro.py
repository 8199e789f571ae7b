"""Framework overhead on tiny work: a chain of ops on (4,)-shaped tensors, and a small MLP Adam step.

Both measure what a step costs when the arrays are too small for the arithmetic to
matter: recording the graph, dispatching ops, walking the graph backward, looping
over parameters in the optimizer.
"""
import numpy as np


def _chain(y, a, b, n_ops):
    """n_ops ops cycling through multiply, add, tanh, scale (bounded by the tanh)."""
    for i in range(n_ops):
        kind = i % 4
        if kind == 0:
            y = y * a
        elif kind == 1:
            y = y + b
        elif kind == 2:
            y = y.tanh()
        else:
            y = y * 0.5
    return y


def _chain_leaves(shape, seed=0):
    """x, a, b float32 arrays of `shape` from a fixed generator."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]


def _chain_runner(make_leaf, sizes):
    """A callable: the op chain on leaves made by `make_leaf`, `.sum().backward()`, grads cleared."""
    leaves = [make_leaf(v) for v in _chain_leaves(sizes.chain_shape)]
    x, a, b = leaves

    def run():
        _chain(x, a, b, sizes.chain_ops).sum().backward()
        for t in leaves:
            t.grad = None
    return run


def engine_chain(sizes):
    """A callable: the engine's op chain forward, `.sum().backward()`, grads cleared."""
    from engine import Tensor
    return _chain_runner(lambda v: Tensor(v, requires_grad=True), sizes)


def torch_chain(torch, sizes):
    """A callable: the same chain in PyTorch."""
    return _chain_runner(lambda v: torch.tensor(v, requires_grad=True), sizes)


def _mlp_data(sizes, seed=0):
    """Inputs (N, in) and regression targets (N, out), float32, from a fixed generator."""
    rng = np.random.default_rng(seed)
    n_in, _, n_out = sizes.mlp
    x = rng.standard_normal((sizes.mlp_batch, n_in)).astype(np.float32)   # (N, in)
    y = rng.standard_normal((sizes.mlp_batch, n_out)).astype(np.float32)  # (N, out)
    return x, y


def engine_mlp(sizes):
    """A callable: one Adam step of a Linear-Tanh-Linear MLP on an MSE loss, in the engine; and the model."""
    import optim
    from engine import Tensor, manual_seed, nn
    from engine import functional as F
    n_in, n_hidden, n_out = sizes.mlp
    manual_seed(0)
    model = nn.Sequential(nn.Linear(n_in, n_hidden), nn.Tanh(), nn.Linear(n_hidden, n_out))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = (Tensor(v) for v in _mlp_data(sizes))

    def run():
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    return run, model


def torch_mlp(torch, sizes, init_from):
    """A callable: the same MLP step in PyTorch, starting from engine model `init_from`'s weights."""
    n_in, n_hidden, n_out = sizes.mlp
    model = torch.nn.Sequential(torch.nn.Linear(n_in, n_hidden), torch.nn.Tanh(), torch.nn.Linear(n_hidden, n_out))
    with torch.no_grad():
        for p, q in zip(model.parameters(), init_from.parameters()):
            p.copy_(torch.from_numpy(q.data))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(v) for v in _mlp_data(sizes))

    def run():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return run
