"""The standard layers, initialised like PyTorch's defaults."""
import math

import numpy as np

from engine import functional as F
from engine.nn.module import Module, Parameter
from engine.random import get_rng


_BLOCK = 1 << 16  # numbers drawn at a time


def _uniform(shape, bound):
    """U(-bound, bound) in float32: the numbers a float64 draw cast to float32 gives, drawn a block at a time,
    so no float64 copy of the whole weight is ever made."""
    weight = np.empty(shape, dtype=np.float32)
    flat = weight.reshape(-1)
    rng = get_rng()
    for start in range(0, flat.size, _BLOCK):
        stop = min(start + _BLOCK, flat.size)
        flat[start:stop] = rng.uniform(-bound, bound, size=stop - start)
    return Parameter(weight)


class Linear(Module):
    """y = x @ weight.T + bias, weight (out, in) ~ U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = _uniform((out_features, in_features), bound)
        self.bias = _uniform((out_features,), bound) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of weight (n, dim) ~ N(0, 1) is the vector of token i."""

    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(get_rng().standard_normal((num_embeddings, embedding_dim), dtype=np.float32))

    def forward(self, idx):
        return F.embedding(idx, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class LayerNorm(Module):
    """Layer normalisation over the last axis, with weight (ones) and optional bias (zeros)."""

    def __init__(self, dim, eps=1e-5, bias=True):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, dtype=np.float32))
        self.bias = Parameter(np.zeros(dim, dtype=np.float32)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, (self.dim,), self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.dim}, eps={self.eps}, bias={self.bias is not None}"


class Dropout(Module):
    """Zero elements with probability p while training; the identity in eval mode."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return x.relu()


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, x):
        return x.tanh()


class GELU(Module):
    """Gaussian error linear unit (approximate='none' or 'tanh')."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class Sequential(Module):
    """Modules applied one after another; sub-modules are named 0, 1, 2, ..."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)


class ModuleList(Module):
    """A list of modules whose parameters are registered (named 0, 1, 2, ...)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        """Add a module at the end."""
        setattr(self, str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __iter__(self):
        return iter(self._modules.values())

    def __len__(self):
        return len(self._modules)
