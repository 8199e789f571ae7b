"""The GPT training step at nanoGPT's CPU recipe, in the engine and in PyTorch.

A step is forward, backward, gradient clipping and an AdamW step (weight decay on
parameters with ndim >= 2 only, as nanoGPT groups them), then zeroing the grads.
Both models start from the same weights (the engine's initialisation copied into
the PyTorch model) and see the same batches, so they run the same computation;
`check_equivalence` verifies that on the first step. Both optimizers get their
groups from `models.lm.weight_decay_groups`, the one place they are built.
"""
import time
from types import SimpleNamespace

import numpy as np

from models.lm import weight_decay_groups
from models.recipe import GPT_RECIPE

PHASES = ("forward", "backward", "clip", "optimizer")
N_BATCHES = 8  # batches are drawn once and cycled, so data loading is not timed


def make_batches(sizes, data_path=None, seed=0):
    """`N_BATCHES` (x, y) int64 pairs of shape (B, T), and the vocabulary size.

    Random tokens from a fixed numpy generator, or, with `data_path`, windows of that
    text (character-level, nanoGPT-style batches from the train split).
    """
    rng = np.random.default_rng(seed)
    B, T = sizes.batch_size, sizes.block_size
    if data_path is None:
        batches = []
        for _ in range(N_BATCHES):
            seq = rng.integers(0, sizes.vocab_size, size=(B, T + 1))        # (B, T+1)
            batches.append((seq[:, :-1].copy(), seq[:, 1:].copy()))        # (B, T) each
        return batches, sizes.vocab_size
    from models.data import CharDataset, read_text_file
    data = CharDataset(read_text_file(data_path), source=str(data_path))
    batches = [data.get_batch("train", B, T, rng) for _ in range(N_BATCHES)]
    return batches, data.tokenizer.vocab_size


def gpt_config(sizes, vocab_size):
    """The GPT's sizes as a namespace with `GPTConfig`'s fields (the recipe's dropout and biases)."""
    return SimpleNamespace(vocab_size=vocab_size, block_size=sizes.block_size, n_layer=sizes.n_layer,
                           n_head=sizes.n_head, n_embd=sizes.n_embd, dropout=GPT_RECIPE.dropout,
                           bias=GPT_RECIPE.bias)


def build_engine(sizes, vocab_size, seed=0):
    """The engine's GPT (seeded initialisation) and its AdamW optimizer."""
    import optim
    from engine import manual_seed
    from models.gpt import GPT, GPTConfig
    manual_seed(seed)
    model = GPT(GPTConfig(**vars(gpt_config(sizes, vocab_size))))
    opt = optim.AdamW(model.configure_optimizer_groups(sizes.weight_decay), lr=sizes.lr, betas=sizes.betas)
    return model, opt


def build_torch(torch, sizes, vocab_size, init_from=None):
    """PyTorch's GPT (tests/torch_gpt.py) and its AdamW; weights copied from engine model `init_from`."""
    from bench.torch_ref import torch_gpt_module
    ref = torch_gpt_module()
    model = ref.TorchGPT(gpt_config(sizes, vocab_size))
    if init_from is not None:
        ref.copy_weights(init_from, model)
    opt = torch.optim.AdamW(weight_decay_groups(model.named_parameters(), sizes.weight_decay),
                            lr=sizes.lr, betas=sizes.betas)
    return model, opt


class TimedStep:
    """One training step per call, cycling through `batches`; each phase's seconds are kept.

    `forward(x, y)` returns the loss; then `loss.backward()`, `clip()`, `update()`
    (optimizer step and zeroing the grads). `model` is kept for inspection.
    """

    def __init__(self, model, batches, forward, clip, update):
        self.model, self.batches = model, batches
        self.forward, self.clip, self.update = forward, clip, update
        self.calls = 0
        self.phases = {name: [] for name in PHASES}

    def __call__(self):
        x, y = self.batches[self.calls % len(self.batches)]
        self.calls += 1
        t0 = time.perf_counter()
        loss = self.forward(x, y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        self.clip()
        t3 = time.perf_counter()
        self.update()
        t4 = time.perf_counter()
        for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            self.phases[name].append(dt)
        return loss


def engine_step(model, opt, batches, grad_clip):
    """A `TimedStep` of the engine's GPT: clip with `optim.clip_grad_norm_`, AdamW, zero_grad."""
    import optim
    params = list(model.parameters())

    def update():
        opt.step()
        opt.zero_grad()
    return TimedStep(model, batches, lambda x, y: model(x, y)[1],
                     lambda: optim.clip_grad_norm_(params, grad_clip), update)


def torch_step(torch, model, opt, batches, grad_clip):
    """A `TimedStep` of PyTorch's GPT on the same batches (as tensors), the same step."""
    params = list(model.parameters())
    batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def update():
        opt.step()
        opt.zero_grad(set_to_none=True)
    return TimedStep(model, batches, lambda x, y: model(x, y)[1],
                     lambda: torch.nn.utils.clip_grad_norm_(params, grad_clip), update)


def check_equivalence(torch, sizes, batches, vocab_size):
    """Do the engine and PyTorch compute the same first step from the same weights?

    Returns a dict: both losses and their relative difference, the worst gradient
    error (max |difference| / max |torch grad|, over parameters, with its name), both
    clipping norms, and the largest parameter difference after the AdamW step in
    units of the learning rate.
    """
    model, opt = build_engine(sizes, vocab_size)
    tmodel, topt = build_torch(torch, sizes, vocab_size, init_from=model)
    x, y = batches[0]
    _, loss = model(x, y)
    loss.backward()
    _, tloss = tmodel(torch.from_numpy(x), torch.from_numpy(y))
    tloss.backward()
    theirs = dict(tmodel.named_parameters())
    grad_err, worst = 0.0, ""
    for name, p in model.named_parameters():
        tg = theirs[name].grad.numpy()
        err = float(np.abs(p.grad.data - tg).max() / max(np.abs(tg).max(), 1e-30))
        if err >= grad_err:
            grad_err, worst = err, name
    import optim
    norm = optim.clip_grad_norm_(list(model.parameters()), sizes.grad_clip)
    tnorm = float(torch.nn.utils.clip_grad_norm_(list(tmodel.parameters()), sizes.grad_clip))
    opt.step()
    topt.step()
    param_err = max(float(np.abs(p.data - theirs[name].detach().numpy()).max())
                    for name, p in model.named_parameters())
    return {"loss_engine": loss.item(), "loss_torch": tloss.item(),
            "loss_rel_diff": abs(loss.item() - tloss.item()) / abs(tloss.item()),
            "grad_rel_err": grad_err, "grad_worst_param": worst,
            "clip_norm_engine": norm, "clip_norm_torch": tnorm,
            "param_diff_in_lr": param_err / sizes.lr}


def final_losses(ours, theirs, torch, batch):
    """Loss of each model (engine `ours`, PyTorch `theirs`) on `batch`, without recording a graph."""
    from engine import no_grad
    x, y = batch
    with no_grad():
        ours = ours(x, y)[1].item()
    with torch.no_grad():
        theirs = theirs(torch.from_numpy(x), torch.from_numpy(y))[1].item()
    return ours, theirs
