"""makemore's MLP written as in the lecture ("Building makemore Part 2/3"), in plain PyTorch.

Not a test module: `bench.lockstep --model mlp` and `tests/test_bench.py` train it
side by side with stepgrad's `models.MLP`. Its parameters are the lecture's tensors:
`C` (the embedding table), `W1`, `b1` (the hidden layer, `x @ W1 + b1`) and `W2`,
`b2` (the output layer); `copy_weights(ours, theirs)` loads a stepgrad MLP into it,
transposing the Linear weights into that layout.
"""
import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


class TorchMLP(nn.Module):
    """emb = C[X]; h = tanh(emb.view(-1, block_size * n_embd) @ W1 + b1); logits = h @ W2 + b2."""

    def __init__(self, n_tokens, vocab_size, block_size, n_embd, n_hidden):
        super().__init__()
        self.block_size, self.n_embd = block_size, n_embd
        self.C = nn.Parameter(torch.zeros(n_tokens, n_embd))
        self.W1 = nn.Parameter(torch.zeros(block_size * n_embd, n_hidden))
        self.b1 = nn.Parameter(torch.zeros(n_hidden))
        self.W2 = nn.Parameter(torch.zeros(n_hidden, vocab_size))
        self.b2 = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, X, Y=None):
        """Logits (N, vocab) of contexts X (N, block_size); the mean cross-entropy against Y (N,) if given."""
        emb = self.C[X]                                               # (N, block_size, n_embd)
        h = torch.tanh(emb.view(-1, self.block_size * self.n_embd) @ self.W1 + self.b1)  # (N, n_hidden)
        logits = h @ self.W2 + self.b2                                # (N, vocab)
        return logits, (None if Y is None else F.cross_entropy(logits, Y))


def copy_weights(ours, theirs):
    """Load stepgrad MLP `ours` into TorchMLP `theirs`: C = wte, W1 = hidden.weight.T, W2 = lm_head.weight.T."""
    sd = ours.state_dict()
    with torch.no_grad():
        theirs.C.copy_(torch.from_numpy(np.array(sd["wte.weight"])))
        theirs.W1.copy_(torch.from_numpy(np.array(sd["hidden.weight"].T)))
        theirs.b1.copy_(torch.from_numpy(np.array(sd["hidden.bias"])))
        theirs.W2.copy_(torch.from_numpy(np.array(sd["lm_head.weight"].T)))
        theirs.b2.copy_(torch.from_numpy(np.array(sd["lm_head.bias"])))
    return theirs
