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
