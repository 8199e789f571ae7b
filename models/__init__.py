"""stepgrad's models: the linear-regression example and character-level language models.

    from models import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=65))
    logits, loss = model(idx, targets)          # idx, targets: int arrays (B, T)

`MODELS` maps the command line's model names to (class, config dataclass).

The names load on first use (`models.GPT` imports `models.gpt` then), so that the
`stepgrad` command starts by loading nothing it cannot interrupt (`models/start.py`).
"""
import importlib

_HOMES = {  # public name -> the module that defines it
    "LinearRegression": "models.linreg", "least_squares": "models.linreg", "make_data": "models.linreg",
    "Bigram": "models.bigram", "BigramConfig": "models.bigram",
    "MLP": "models.mlp", "MLPConfig": "models.mlp",
    "GPT": "models.gpt", "GPTConfig": "models.gpt",
    "MODELS": "models.registry", "ModelSpec": "models.registry", "build_model": "models.registry",
}

__all__ = list(_HOMES)


def __getattr__(name):
    """`models.GPT` and `from models import GPT`: the name, from the module that defines it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found once, then a plain attribute
    return value


def __dir__():
    """What `dir(models)` lists: the names loaded so far and every public one."""
    return sorted(set(globals()) | set(__all__))
