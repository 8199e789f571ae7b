"""`LanguageModel`: what Bigram, MLP and GPT share besides their forward pass."""
from engine import functional as F
from engine import nn
from models.sampling import as_tokens, generate


def weight_decay_groups(named_parameters, weight_decay):
    """nanoGPT's parameter groups: decay every matrix (ndim >= 2), not biases or norm gains.

    `named_parameters` yields `(name, parameter)` pairs (`model.named_parameters()`,
    of a stepgrad model or a PyTorch one). Returns `[{'params': [(name, p), ...],
    'weight_decay': weight_decay}, {'params': [...], 'weight_decay': 0.0}]`: named
    pairs, which both `optim` and `torch.optim` accept (the names label the
    optimizer's statistics); a group that would be empty is left out.
    """
    named = list(named_parameters)
    groups = [
        {"params": [(n, p) for n, p in named if p.ndim >= 2], "weight_decay": float(weight_decay)},
        {"params": [(n, p) for n, p in named if p.ndim < 2], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


class LanguageModel(nn.Module):
    """Base of the character-level models: `forward(idx, targets=None) -> (logits, loss)`.

    Subclasses set `self.config` (a dataclass with `vocab_size`) and define
    `forward` and `context_size` (how many past tokens a prediction can see).
    `reads_contexts` says which batches it trains on: False, windows of consecutive
    tokens (B, T) (Bigram, GPT); True, each position's own context (B, T, context)
    (MLP; see `models.batches`).
    """

    reads_contexts = False

    @property
    def context_size(self):
        """How many of the most recent tokens one prediction looks at."""
        return self.config.block_size

    def with_loss(self, logits, targets):
        """(logits, loss): the mean cross-entropy of logits (B, T, V) against targets (B, T), or None."""
        if targets is None:
            return logits, None
        B, T, V = logits.shape
        return logits, F.cross_entropy(logits.reshape(B * T, V), as_tokens(targets).reshape(B * T))

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, rng=None):
        """Sample `max_new_tokens` tokens after the prompts `idx` (B, T); returns an int64 array.

        `temperature` 0 or `top_k=1` is greedy; `rng` is a numpy Generator or a seed
        (None: the engine's generator). See `models.sampling.generate`.
        """
        return generate(self, idx, max_new_tokens, temperature, top_k, rng)

    def configure_optimizer_groups(self, weight_decay):
        """nanoGPT's parameter groups of this model's trainable parameters (`weight_decay_groups`).

        Ready for `optim.AdamW(groups, lr=..., betas=...)`; the Bigram model, which
        has only its table, gets one group.
        """
        return weight_decay_groups(((n, p) for n, p in self.named_parameters() if p.requires_grad), weight_decay)
