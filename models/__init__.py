"""stepgrad's models: the linear-regression example and character-level language models.

    from models import GPT, GPTConfig
    model = GPT(GPTConfig(vocab_size=65))
    logits, loss = model(idx, targets)          # idx, targets: int arrays (B, T)

`MODELS` maps the command line's model names to (class, config dataclass).
"""
from models.bigram import Bigram, BigramConfig
from models.gpt import GPT, GPTConfig
from models.linreg import LinearRegression, least_squares, make_data
from models.mlp import MLP, MLPConfig
from models.registry import MODELS, ModelSpec, build_model

__all__ = ["LinearRegression", "least_squares", "make_data", "Bigram", "BigramConfig", "MLP", "MLPConfig",
           "GPT", "GPTConfig", "MODELS", "ModelSpec", "build_model"]
