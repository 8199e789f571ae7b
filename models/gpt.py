"""A GPT language model, shaped like nanoGPT's `model.py` (Karpathy), on the stepgrad engine.

Token and position embeddings, `n_layer` pre-norm transformer blocks (causal
self-attention and a GELU MLP, each added to a residual stream), a final LayerNorm and
a language-model head tied to the token embedding. Parameter names match nanoGPT's
(`transformer.wte.weight`, `transformer.h.0.attn.c_attn.weight`, `lm_head.weight`),
and so does the initialisation.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from engine import Tensor
from engine import functional as F
from engine import get_rng, nn
from models.gpt_layout import iter_state_shapes, num_parameters
from models.hf_gpt2 import read_gpt2
from models.lm import LanguageModel
from models.recipe import GPT_RECIPE
from models.sampling import as_tokens


@dataclass
class GPTConfig:
    """Sizes of a `GPT`; the defaults are nanoGPT's CPU recipe for tiny Shakespeare (`models.recipe`).

    `bias` puts biases in every Linear and LayerNorm (GPT-2 style); `dropout` is the
    probability used after the embeddings, on attention weights and on each residual branch;
    `gelu_approximate` is the MLP's GELU: 'none' (exact erf, nanoGPT) or 'tanh' (the
    approximation GPT-2 was trained with).
    """
    vocab_size: int
    block_size: int = GPT_RECIPE.block_size
    n_layer: int = GPT_RECIPE.n_layer
    n_head: int = GPT_RECIPE.n_head
    n_embd: int = GPT_RECIPE.n_embd
    dropout: float = GPT_RECIPE.dropout
    bias: bool = GPT_RECIPE.bias
    gelu_approximate: str = "none"

    def parameter_shapes(self):
        """(name, shape) of each parameter of the model, in `state_dict` order, without building it.

        `lm_head.weight` comes last, as in `state_dict`, although it is `transformer.wte.weight`.
        """
        return iter_state_shapes(asdict(self))

    def num_parameters(self):
        """How many numbers the model holds (the tied `lm_head.weight` counted once)."""
        return num_parameters(asdict(self))

    def activation_numbers(self, batch_size, block_size):
        """About how many numbers a training step on (batch_size, block_size) ids keeps at its peak, besides
        the parameters and their gradients: per position and layer 33 per channel and one attention weight
        per head and earlier position, and 5 per vocabulary entry for the logits (measured; `models.sizes`)."""
        C = self.n_embd
        per_layer = 33 * C + self.n_head * block_size
        return batch_size * block_size * (5 * self.vocab_size + 2 * C + self.n_layer * per_layer)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which each position sees only itself and the past.

    `flash=True` (the default) runs the engine's fused `F.scaled_dot_product_attention`;
    `flash=False` spells attention out in primitive ops (matmul, scale, additive causal
    mask, softmax, dropout, matmul), like nanoGPT's "slow attention" path: same
    numbers, a more detailed graph.
    """

    def __init__(self, config):
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head})")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.flash = True
        # additive causal mask: 0 on and below the diagonal, -inf above (a constant, not a parameter)
        self.mask = np.triu(np.full((config.block_size, config.block_size), -np.inf, dtype=np.float32), k=1)

    def forward(self, x):
        """x (B, T, C) -> (B, T, C)."""
        B, T, C = x.shape
        hs = C // self.n_head
        qkv = self.c_attn(x).reshape(B, T, 3, self.n_head, hs).transpose(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        q, k, v = qkv[0], qkv[1], qkv[2]                              # (B, nh, T, hs) each
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout,
                                               training=self.training)  # (B, nh, T, hs)
        else:
            att = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(hs))    # (B, nh, T, T)
            att = att + Tensor(self.mask[:T, :T])                     # (B, nh, T, T)
            att = F.softmax(att, axis=-1)                             # (B, nh, T, T)
            att = self.attn_dropout(att)                              # (B, nh, T, T)
            y = att @ v                                               # (B, nh, T, hs)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)                  # (B, T, C): heads side by side
        return self.resid_dropout(self.c_proj(y))                     # (B, T, C)


class FeedForward(nn.Module):
    """nanoGPT's `MLP`: Linear to 4x width, GELU (exact unless the config says 'tanh'), Linear back, dropout."""

    def __init__(self, config):
        super().__init__()
        if config.gelu_approximate not in ("none", "tanh"):
            raise ValueError(f"gelu_approximate must be 'none' or 'tanh', not {config.gelu_approximate!r}")
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(config.gelu_approximate)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        """x (B, T, C) -> (B, T, C)."""
        x = self.c_fc(x)                                              # (B, T, 4C)
        x = self.gelu(x)                                              # (B, T, 4C)
        x = self.c_proj(x)                                            # (B, T, C)
        return self.dropout(x)                                        # (B, T, C)


class Block(nn.Module):
    """One transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = FeedForward(config)

    def forward(self, x):
        """x (B, T, C) -> (B, T, C)."""
        x = x + self.attn(self.ln_1(x))                               # (B, T, C)
        x = x + self.mlp(self.ln_2(x))                                # (B, T, C)
        return x


class Transformer(nn.Module):
    """nanoGPT's `transformer` ModuleDict (wte, wpe, drop, h, ln_f), run in order.

    Running it as a module (rather than reaching into it from `GPT.forward`) tags the
    recorded ops with full names such as `transformer.h.0.attn.c_attn`.
    """

    def __init__(self, config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)

    def forward(self, idx):
        """Token ids (B, T) -> final hidden states (B, T, C)."""
        T = idx.shape[1]
        pos = np.arange(T, dtype=np.int64)                            # (T,)
        tok_emb = self.wte(idx)                                       # (B, T, C)
        pos_emb = self.wpe(pos)                                       # (T, C)
        x = self.drop(tok_emb + pos_emb)                              # (B, T, C)
        x = self.h(x)                                                 # (B, T, C)
        return self.ln_f(x)                                           # (B, T, C)


def _normal_(p, std):
    """Refill parameter `p` in place with N(0, std^2) samples from the engine's generator."""
    p.data[...] = get_rng().standard_normal(p.shape, dtype=np.float32) * std


class GPT(LanguageModel):
    """A decoder-only transformer over characters, nanoGPT-style.

    Weights are drawn from the engine's generator (`engine.manual_seed` makes them
    reproducible): N(0, 0.02) for Linear and Embedding weights, zero biases, and
    N(0, 0.02 / sqrt(2 * n_layer)) for the projections into the residual stream
    (`c_proj`), per GPT-2. `lm_head.weight` is the same Parameter as
    `transformer.wte.weight`.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = Transformer(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight             # weight tying
        for m in self.modules():                                      # nanoGPT's _init_weights
            if isinstance(m, (nn.Linear, nn.Embedding)):
                _normal_(m.weight, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.data[...] = 0.0
        for name, p in self.named_parameters():                       # scaled residual projections
            if name.endswith("c_proj.weight"):
                _normal_(p, 0.02 / math.sqrt(2 * config.n_layer))

    @classmethod
    def from_pretrained(cls, folder, dropout=0.0):
        """A GPT-2 from a local Hugging Face folder (`config.json`, `model.safetensors`), without network.

        Conv1D weights are transposed into Linear's (out, in) layout and the MLP uses
        GPT-2's tanh-approximate GELU; see `models.hf_gpt2`. Token ids in, logits out:
        text needs GPT-2's BPE tokenizer (`stepgrad sample --pretrained`).
        """
        fields, state = read_gpt2(folder)
        model = cls(GPTConfig(**{**fields, "dropout": dropout}))
        model.load_state_dict(state)
        return model

    def get_num_params(self, non_embedding=True):
        """Number of parameters; by default without the position embeddings (nanoGPT's count).

        The token embeddings stay in the count: tied to `lm_head`, they are also the
        output layer's weights.
        """
        n = self.num_parameters()
        if non_embedding:
            n -= self.transformer.wpe.weight.size
        return n

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) for the token after each position; the mean loss if `targets`."""
        idx = as_tokens(idx)                                          # (B, T)
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"cannot forward a sequence of length {T}: block_size is {self.config.block_size}")
        x = self.transformer(idx)                                     # (B, T, C)
        logits = self.lm_head(x)                                      # (B, T, V)
        return self.with_loss(logits, targets)
