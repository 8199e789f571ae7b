"""The bigram language model: the next character depends only on the current one."""
from dataclasses import dataclass

import numpy as np

from engine import nn
from models.lm import LanguageModel
from models.sampling import as_tokens


@dataclass
class BigramConfig:
    """Sizes of a `Bigram` model."""
    vocab_size: int

    def parameter_shapes(self):
        """(name, shape) of each parameter of the model, in `state_dict` order, without building it."""
        yield "table", (self.vocab_size, self.vocab_size)

    def num_parameters(self):
        """How many numbers the model holds."""
        return self.vocab_size * self.vocab_size

    def activation_numbers(self, batch_size, block_size):
        """About how many numbers a training step on (batch_size, block_size) ids keeps at its peak, besides
        the parameters and their gradients: the logits, their softmax and gradients, 5 per vocabulary entry
        (measured; `models.sizes`)."""
        return batch_size * block_size * 5 * self.vocab_size


class Bigram(LanguageModel):
    """A table of next-character logits: row i holds the logits of what follows token i.

    The table starts at zero (every next character equally likely, loss log(vocab)),
    as in makemore's bigram model.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.table = nn.Parameter(np.zeros((config.vocab_size, config.vocab_size), dtype=np.float32))

    @property
    def context_size(self):
        """A bigram model looks at one token."""
        return 1

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) for the token after each position; the mean loss if `targets`."""
        idx = as_tokens(idx)                                          # (B, T)
        logits = self.table[idx]                                      # (B, T, V)
        return self.with_loss(logits, targets)
