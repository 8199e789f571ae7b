"""Train the engine's GPT and PyTorch's in lockstep: same initial weights, batches and schedule.

    python -m bench.lockstep --data path/to/tinyshakespeare.txt [--steps 2000] [--seed 1337]

Both follow nanoGPT's CPU recipe (`models/recipe.py`: AdamW with a linear warm-up
then a cosine decay, weight decay on matrices only, gradient clipping). Every 500
steps it prints both training losses; at the end, both models' loss on the whole
validation split (non-overlapping windows of one context length). A correct
engine tracks PyTorch step for step, so the two columns should agree to float32
rounding; any gap in final quality is then the recipe's, not the engine's.
"""
import argparse
import sys

import numpy as np

import optim
from optim.lr_scheduler import WarmupCosineLR
from bench.torch_ref import load_torch, torch_gpt_module
from engine import manual_seed, no_grad, tune
from models.data import CharDataset, DataError, load_text
from models.gpt import GPT, GPTConfig
from models.lm import weight_decay_groups
from models.recipe import GPT_RECIPE as R


def full_val_loss(loss_of, val):
    """Mean loss over non-overlapping windows of the recipe's block size of `val`; loss_of(x, y) -> float."""
    T = R.block_size
    starts = np.arange(0, len(val) - T - 1, T)
    total = 0.0
    for i in range(0, len(starts), 64):
        s = starts[i:i + 64]
        x = np.stack([val[j:j + T] for j in s])                      # (b, T)
        y = np.stack([val[j + 1:j + T + 1] for j in s])              # (b, T)
        total += loss_of(x, y) * x.size
    return total / (len(starts) * T)


def main(argv=None):
    """Run the lockstep comparison and print the losses; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.lockstep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a UTF-8 text file (e.g. tiny Shakespeare)")
    parser.add_argument("--steps", type=int, default=R.steps)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    try:
        ds = CharDataset(load_text(args.data), R.val_fraction)
        ds.check_block_size(R.block_size)
    except DataError as e:
        print(f"bench.lockstep: {e}", file=sys.stderr)
        return 2
    torch = load_torch()
    if torch is None:
        print("bench.lockstep: PyTorch is not installed; nothing to compare against")
        return 1
    tune()  # as the `stepgrad` command does
    torch.set_num_threads(2)
    config = GPTConfig(vocab_size=ds.tokenizer.vocab_size)
    manual_seed(args.seed)
    model = GPT(config)
    ref = torch_gpt_module()
    tmodel = ref.TorchGPT(config)
    ref.copy_weights(model, tmodel)
    opt = optim.AdamW(model.configure_optimizer_groups(R.weight_decay), lr=R.lr, betas=R.betas)
    topt = torch.optim.AdamW(weight_decay_groups(tmodel.named_parameters(), R.weight_decay), lr=R.lr, betas=R.betas)
    schedule = WarmupCosineLR(opt, R.warmup_steps, decay_steps=args.steps, min_lr=R.min_lr)
    rng = np.random.default_rng(args.seed)
    print("step  engine loss  torch loss")
    for step in range(args.steps):
        for group in topt.param_groups:  # PyTorch's AdamW steps with the same learning rate
            group["lr"] = schedule.get_last_lr()[0]
        x, y = ds.get_batch("train", R.batch_size, R.block_size, rng)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(list(model.parameters()), R.grad_clip)
        opt.step()
        schedule.step()
        _, tloss = tmodel(torch.from_numpy(x), torch.from_numpy(y))
        topt.zero_grad(set_to_none=True)
        tloss.backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), R.grad_clip)
        topt.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"{step:4d}  {loss.item():11.4f}  {tloss.item():10.4f}", flush=True)
    model.eval()
    tmodel.eval()
    with no_grad():
        ours = full_val_loss(lambda a, b: model(a, b)[1].item(), ds.val)
    with torch.no_grad():
        theirs = full_val_loss(lambda a, b: tmodel(torch.from_numpy(a), torch.from_numpy(b))[1].item(), ds.val)
    print(f"whole validation split: engine {ours:.4f}, torch {theirs:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
