"""The makemore MLP language model (Bengio et al. 2003): a window of previous characters
→ embeddings → concatenation → tanh hidden layer → logits of the next character."""
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine import get_rng, nn
from models.lm import LanguageModel
from models.sampling import as_tokens


@dataclass
class MLPConfig:
    """Sizes of an `MLP` model: `block_size` characters of context, each embedded in
    `n_embd` numbers, one hidden layer of `n_hidden` tanh units."""
    vocab_size: int
    block_size: int = 3
    n_embd: int = 10
    n_hidden: int = 200

    def parameter_shapes(self):
        """(name, shape) of each parameter of the model, in `state_dict` order, without building it."""
        V, H = self.vocab_size, self.n_hidden
        yield "wte.weight", (V + 1, self.n_embd)                       # +1: the pad token
        yield "hidden.weight", (H, self.block_size * self.n_embd)
        yield "hidden.bias", (H,)
        yield "lm_head.weight", (V, H)
        yield "lm_head.bias", (V,)

    def num_parameters(self):
        """How many numbers the model holds."""
        return sum(math.prod(shape) for _, shape in self.parameter_shapes())

    def activation_numbers(self, batch_size, block_size):
        """About how many numbers a training step on (batch_size, block_size) ids keeps at its peak, besides
        the parameters and their gradients: per position 5 per vocabulary entry (logits, softmax, gradients)
        and 3 per embedded context number and hidden unit (measured; `models.sizes`)."""
        per_position = 5 * self.vocab_size + 3 * (self.block_size * self.n_embd + self.n_hidden)
        return batch_size * block_size * per_position


class MLP(LanguageModel):
    """Position t predicts token t+1 from the `block_size` tokens ending at t.

    Positions before the start of the sequence are filled with a dedicated pad token
    (id `vocab_size`, makemore's <BLANK>), which has its own embedding row, so the
    model trains on the same (B, T) batches as the other models. Initialisation
    follows the makemore lectures: tanh-gain (5/3) / sqrt(fan_in) hidden weights,
    zero biases, and output weights scaled by 0.01 so the first loss is ≈ log(vocab).
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.pad_id = config.vocab_size
        self.wte = nn.Embedding(config.vocab_size + 1, config.n_embd)    # +1: the pad token
        self.hidden = nn.Linear(config.block_size * config.n_embd, config.n_hidden)
        self.lm_head = nn.Linear(config.n_hidden, config.vocab_size)
        rng = get_rng()
        fan_in = config.block_size * config.n_embd
        self.hidden.weight.data[...] = rng.standard_normal(self.hidden.weight.shape) * ((5 / 3) / math.sqrt(fan_in))
        self.hidden.bias.data[...] = 0.0
        self.lm_head.weight.data[...] = rng.standard_normal(self.lm_head.weight.shape) * 0.01
        self.lm_head.bias.data[...] = 0.0

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) for the token after each position; the mean loss if `targets`."""
        idx = as_tokens(idx)                                          # (B, T)
        B, T = idx.shape
        bs = self.config.block_size
        padded = np.concatenate([np.full((B, bs - 1), self.pad_id, dtype=np.int64), idx], axis=1)  # (B, T+bs-1)
        context = sliding_window_view(padded, bs, axis=1)             # (B, T, bs): tokens t-bs+1 .. t
        emb = self.wte(context)                                       # (B, T, bs, n_embd)
        h = self.hidden(emb.reshape(B, T, bs * self.config.n_embd)).tanh()  # (B, T, n_hidden)
        logits = self.lm_head(h)                                      # (B, T, V)
        return self.with_loss(logits, targets)
