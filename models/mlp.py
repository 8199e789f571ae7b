"""The makemore MLP language model (Bengio et al. 2003): the characters before a position
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
    `n_embd` numbers, one hidden layer of `n_hidden` tanh units.

    `pad_id` is the token that stands for "before the start of the text" (makemore's
    '.'); `stepgrad train` makes it the newline, which also ends every word of a word
    list. None gives the model a pad token of its own, id `vocab_size`, with its own
    embedding row.
    """
    vocab_size: int
    block_size: int = 3
    n_embd: int = 10
    n_hidden: int = 200
    pad_id: int | None = None

    def parameter_shapes(self):
        """(name, shape) of each parameter of the model, in `state_dict` order, without building it."""
        V, H = self.vocab_size, self.n_hidden
        yield "wte.weight", (V + (self.pad_id is None), self.n_embd)  # +1: a pad token of its own
        yield "hidden.weight", (H, self.block_size * self.n_embd)
        yield "hidden.bias", (H,)
        yield "lm_head.weight", (V, H)
        yield "lm_head.bias", (V,)

    def num_parameters(self):
        """How many numbers the model holds."""
        return sum(math.prod(shape) for _, shape in self.parameter_shapes())

    def activation_numbers(self, batch_size, positions):
        """About how many numbers a training step on (batch_size, positions) predictions keeps at its peak,
        besides the parameters and their gradients: per position 5 per vocabulary entry (logits, softmax,
        gradients) and 3 per embedded context number and hidden unit (measured; `models.sizes`)."""
        per_position = 5 * self.vocab_size + 3 * (self.block_size * self.n_embd + self.n_hidden)
        return batch_size * positions * per_position


class MLP(LanguageModel):
    """Each prediction sees the `block_size` characters before it, and nothing else.

    A forward pass takes either token ids (B, T) of a text that starts at `idx[:, 0]`
    (position t sees tokens t-block_size+1 .. t; those before the start are the pad
    token), or ready contexts (B, T, block_size): for every position the characters it
    sees, as training draws them from the corpus with the real text before each one
    (`CharDataset.get_context_batch`). Initialisation follows the makemore lectures:
    tanh-gain (5/3) / sqrt(fan_in) hidden weights, zero biases, and output weights
    scaled by 0.01 so the first loss is ≈ log(vocab).
    """

    reads_contexts = True  # training and evaluation hand it contexts (B, T, block_size)

    def __init__(self, config):
        super().__init__()
        if config.pad_id is not None and not 0 <= config.pad_id < config.vocab_size:
            raise ValueError(f"pad_id must be a token id below vocab_size {config.vocab_size}, got {config.pad_id}")
        self.config = config
        self.pad_id = config.vocab_size if config.pad_id is None else config.pad_id
        own_pad = config.pad_id is None
        self.wte = nn.Embedding(config.vocab_size + own_pad, config.n_embd)
        self.hidden = nn.Linear(config.block_size * config.n_embd, config.n_hidden)
        self.tanh = nn.Tanh()
        self.lm_head = nn.Linear(config.n_hidden, config.vocab_size)
        rng = get_rng()
        fan_in = config.block_size * config.n_embd
        self.hidden.weight.data[...] = rng.standard_normal(self.hidden.weight.shape) * ((5 / 3) / math.sqrt(fan_in))
        self.hidden.bias.data[...] = 0.0
        self.lm_head.weight.data[...] = rng.standard_normal(self.lm_head.weight.shape) * 0.01
        self.lm_head.bias.data[...] = 0.0

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) for the token after each position; the mean loss if `targets` (B, T)."""
        context = self.contexts(idx)                                  # (B, T, bs)
        B, T, bs = context.shape
        emb = self.wte(context)                                       # (B, T, bs, n_embd)
        h = self.tanh(self.hidden(emb.reshape(B, T, bs * self.config.n_embd)))  # (B, T, n_hidden)
        logits = self.lm_head(h)                                      # (B, T, V)
        return self.with_loss(logits, targets)

    def contexts(self, idx):
        """The (B, T, block_size) contexts of `idx`: itself if it is contexts, else the windows of ids (B, T)."""
        bs = self.config.block_size
        arr = np.asarray(getattr(idx, "data", idx))
        if arr.ndim == 3:
            if arr.dtype.kind not in "iu" or arr.shape[2] != bs:
                raise ValueError(f"contexts must be integer ids of shape (B, T, {bs}), got {arr.dtype} {arr.shape}")
            return arr.astype(np.int64, copy=False)
        idx = as_tokens(idx)                                          # (B, T)
        padded = np.concatenate([np.full((len(idx), bs - 1), self.pad_id, dtype=np.int64), idx], axis=1)  # (B, T+bs-1)
        return sliding_window_view(padded, bs, axis=1)                # (B, T, bs): tokens t-bs+1 .. t
