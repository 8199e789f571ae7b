"""`MODELS`: the language models by name, with their config dataclasses.

The command line picks a model by name (`--model gpt`) and checkpoints store the
name and `dataclasses.asdict(config)`; `build_model` turns those back into a model.
"""
from dataclasses import dataclass, fields

from models.bigram import Bigram, BigramConfig
from models.gpt import GPT, GPTConfig
from models.mlp import MLP, MLPConfig


@dataclass(frozen=True)
class ModelSpec:
    """A model class and the dataclass that configures it."""
    model_cls: type
    config_cls: type

    def config_fields(self):
        """Names of the config's fields, in order."""
        return [f.name for f in fields(self.config_cls)]


#: the language models by command-line name (`--model`), each a ModelSpec (class, config dataclass)
MODELS = {
    "bigram": ModelSpec(Bigram, BigramConfig),
    "mlp": ModelSpec(MLP, MLPConfig),
    "gpt": ModelSpec(GPT, GPTConfig),
}


def build_model(name, config):
    """A fresh model `name` from a config dataclass or a dict of its fields (unknown keys are an error)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    spec = MODELS[name]
    if isinstance(config, dict):
        unknown = sorted(set(config) - set(spec.config_fields()))
        if unknown:
            raise ValueError(f"unknown {name} config field(s): {', '.join(unknown)}")
        config = spec.config_cls(**config)
    if not isinstance(config, spec.config_cls):
        raise TypeError(f"{name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
    return spec.model_cls(config)
