"""Train an engine model and PyTorch's in lockstep: same initial weights, batches and schedule.

    python -m bench.lockstep --data path/to/tinyshakespeare.txt [--steps 2000] [--seed 1337] [--torch-only]
    python -m bench.lockstep --model mlp --data path/to/names.txt [--steps 200000] [--seed 1337]

`--model gpt` (the default) follows nanoGPT's CPU recipe (`models/recipe.py`:
AdamW with a linear warm-up then a cosine decay, weight decay on matrices only,
gradient clipping); it prints both training losses every 500 steps and, at the
end, both models' loss on the whole validation split (non-overlapping windows
of one context length, as `models.evaluation` scores it).

`--model mlp` follows makemore's MLP lecture ("Building makemore Part 3"): the
word list shuffled with `random.seed(42)` and split 80/10/10 by word, a context
of 3 characters ('\\n' before each word, makemore's '.'), 10-wide embeddings,
200 tanh units, batches of 32 examples, plain SGD at 0.1 and at 0.01 from half
way (makemore: step 100000 of 200000). The PyTorch side is the lecture's own
formulation (`tests/torch_mlp.py`: C, W1, b1, W2, b2). It prints both training
losses ten times and, at the end, both models' loss on the whole train and dev
splits, as the lecture's `split_loss` reports them.

A correct engine tracks PyTorch step for step, so the two columns should agree
to float32 rounding; any gap in final quality is then the recipe's, not the
engine's.
"""
import argparse
import importlib.util
import random
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import optim
from bench.torch_ref import load_torch, torch_gpt_module
from engine import manual_seed, no_grad, tune
from models.batches import split_batches
from models.data import CharDataset, DataError, load_text
from models.gpt import GPT, GPTConfig
from models.lm import weight_decay_groups
from models.mlp import MLP, MLPConfig
from models.recipe import GPT_RECIPE as R
from optim.lr_scheduler import WarmupCosineLR

TORCH_MLP_FILE = Path(__file__).resolve().parents[1] / "tests" / "torch_mlp.py"


@dataclass(frozen=True)
class MakemoreRecipe:
    """makemore's MLP and its training, as in the lecture notebook `makemore_part3_bn.ipynb`."""
    block_size: int = 3           # context length
    n_embd: int = 10
    n_hidden: int = 200
    batch_size: int = 32
    steps: int = 200_000
    lr: float = 0.1               # 0.01 from steps // 2 on
    split_seed: int = 42          # random.seed(42); random.shuffle(words)
    train_fraction: float = 0.8   # words[:n1] train, words[n1:n2] dev, n1 = 80%, n2 = 90%
    dev_fraction: float = 0.1


MAKEMORE = MakemoreRecipe()


def whole_split_loss(loss_of, batches):
    """Mean loss over every target of `batches` [(x, y), ...]; loss_of(x, y) -> the batch's mean loss."""
    total, count = 0.0, 0
    for x, y in batches:
        total += loss_of(x, y) * y.size
        count += y.size
    return total / count


def makemore_split(text, recipe=MAKEMORE):
    """makemore's train and dev words of a word list: shuffled with random.seed(42), the first 80% and the next 10%."""
    words = text.splitlines()
    random.Random(recipe.split_seed).shuffle(words)
    n1, n2 = int(recipe.train_fraction * len(words)), int((recipe.train_fraction + recipe.dev_fraction) * len(words))
    return words[:n1], words[n1:n2]


def torch_mlp_module():
    """`tests/torch_mlp.py` as a module (TorchMLP, copy_weights); needs torch importable."""
    spec = importlib.util.spec_from_file_location("stepgrad_bench_torch_mlp", TORCH_MLP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_mlp(torch, ds, steps, seed, recipe=MAKEMORE, report=print):
    """Train stepgrad's MLP and the lecture's on word-list dataset `ds` in lockstep.

    Returns `(losses, final)`: per step the pair (engine, torch) of training
    losses, and {"train": (engine, torch), "dev": (engine, torch)}, the losses
    over the whole splits. `report(line)` gets a line every tenth of the run.
    """
    newline = int(ds.tokenizer.encode("\n")[0])
    manual_seed(seed)
    model = MLP(MLPConfig(ds.tokenizer.vocab_size, recipe.block_size, recipe.n_embd, recipe.n_hidden, pad_id=newline))
    ref = torch_mlp_module()
    tmodel = ref.copy_weights(model, ref.TorchMLP(model.wte.weight.shape[0], ds.tokenizer.vocab_size,
                                                  recipe.block_size, recipe.n_embd, recipe.n_hidden))
    opt = optim.SGD(model.parameters(), lr=recipe.lr)
    topt = torch.optim.SGD(tmodel.parameters(), lr=recipe.lr)
    rng = np.random.default_rng([seed, 1])  # the batches `stepgrad train --seed SEED` draws
    losses = []
    for step in range(steps):
        lr = recipe.lr if step < steps // 2 else recipe.lr / 10  # makemore's step decay
        for group in (*opt.param_groups, *topt.param_groups):
            group["lr"] = lr
        x, y = ds.get_context_batch("train", recipe.batch_size, 1, recipe.block_size, newline, rng)  # (B, 1, 3), (B, 1)
        _, loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _, tloss = tmodel(torch.from_numpy(x[:, 0]), torch.from_numpy(y[:, 0]))
        topt.zero_grad(set_to_none=True)
        tloss.backward()
        topt.step()
        losses.append((loss.item(), tloss.item()))
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            report(f"{step:7d}  {losses[-1][0]:11.4f}  {losses[-1][1]:10.4f}")
    final = {}
    for split in ("train", "val"):
        batches = list(split_batches(model, ds, split, recipe.block_size))  # (1, N, 3), (1, N) each
        with no_grad():
            ours = whole_split_loss(lambda a, b: model(a, b)[1].item(), batches)
        with torch.no_grad():
            theirs = whole_split_loss(lambda a, b: tmodel(torch.from_numpy(a[0]), torch.from_numpy(b[0]))[1].item(),
                                      batches)
        final["dev" if split == "val" else "train"] = (ours, theirs)
    return losses, final


def run_gpt(torch, ds, steps, seed, report=print, engine=True):
    """Train stepgrad's GPT and PyTorch's on `ds` in lockstep (nanoGPT's CPU recipe).

    The engine's side is exactly `stepgrad train --model gpt --seed SEED`: the
    same initial weights, batches, optimizer and schedule, and the same whole-split
    validation loss at the end. Returns `(losses, final)` like `run_mlp`, `final`
    holding {"val": (engine, torch)}. `engine=False` trains PyTorch's side alone
    (from the same initial weights and batches; the engine's numbers are NaN), for
    seeds whose `stepgrad train` runs are already recorded.
    """
    config = GPTConfig(vocab_size=ds.tokenizer.vocab_size)
    manual_seed(seed)
    model = GPT(config)
    ref = torch_gpt_module()
    tmodel = ref.TorchGPT(config)
    ref.copy_weights(model, tmodel)
    opt = optim.AdamW(model.configure_optimizer_groups(R.weight_decay), lr=R.lr, betas=R.betas)
    topt = torch.optim.AdamW(weight_decay_groups(tmodel.named_parameters(), R.weight_decay), lr=R.lr, betas=R.betas)
    schedule = WarmupCosineLR(opt, R.warmup_steps, decay_steps=steps, min_lr=R.min_lr)
    rng = np.random.default_rng([seed, 1])  # the batches `stepgrad train --seed SEED` draws
    losses = []
    for step in range(steps):
        for group in topt.param_groups:  # PyTorch's AdamW steps with the same learning rate
            group["lr"] = schedule.get_last_lr()[0]
        x, y = ds.get_batch("train", R.batch_size, R.block_size, rng)
        if engine:
            _, loss = model(x, y)
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm_(list(model.parameters()), R.grad_clip)
            opt.step()
            schedule.step()
        else:
            with warnings.catch_warnings():  # only the engine's schedule runs, to set PyTorch's learning rate
                warnings.simplefilter("ignore", UserWarning)
                schedule.step()
        _, tloss = tmodel(torch.from_numpy(x), torch.from_numpy(y))
        topt.zero_grad(set_to_none=True)
        tloss.backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), R.grad_clip)
        topt.step()
        losses.append((loss.item() if engine else float("nan"), tloss.item()))
        if step % 500 == 0 or step == steps - 1:
            ours = f"{losses[-1][0]:11.4f}  " if engine else ""  # --torch-only: no engine column
            report(f"{step:7d}  {ours}{losses[-1][1]:10.4f}")
    model.eval()
    tmodel.eval()
    batches = list(split_batches(model, ds, "val", R.block_size))  # as models.evaluation scores it
    with no_grad():
        ours = whole_split_loss(lambda a, b: model(a, b)[1].item(), batches) if engine else float("nan")
    with torch.no_grad():
        theirs = whole_split_loss(lambda a, b: tmodel(torch.from_numpy(a), torch.from_numpy(b))[1].item(), batches)
    return losses, {"val": (ours, theirs)}


def main(argv=None):
    """Run the lockstep comparison and print the losses; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.lockstep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["gpt", "mlp"], default="gpt",
                        help="gpt: nanoGPT's CPU recipe; mlp: makemore's MLP lecture (default: gpt)")
    parser.add_argument("--data", required=True,
                        help="a UTF-8 text file: tiny Shakespeare for gpt, a word list (names.txt) for mlp")
    parser.add_argument("--steps", type=int, help=f"default: {R.steps} (gpt), {MAKEMORE.steps} (mlp)")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--torch-only", action="store_true",
                        help="gpt: train PyTorch's side alone (the engine's is `stepgrad train --seed SEED`)")
    args = parser.parse_args(argv)
    if args.torch_only and args.model != "gpt":
        parser.error("--torch-only goes with --model gpt")
    steps = args.steps if args.steps is not None else (R.steps if args.model == "gpt" else MAKEMORE.steps)
    if steps < 1:
        parser.error("--steps must be at least 1")
    try:
        text = load_text(args.data)
        if args.model == "gpt":
            ds = CharDataset(text, R.val_fraction)
            ds.check_block_size(R.block_size)
        else:
            ds = CharDataset.from_words(*makemore_split(text), source=args.data)
            ds.check_seq_len(1)
    except DataError as e:
        print(f"bench.lockstep: {e}", file=sys.stderr)
        return 2
    torch = load_torch()
    if torch is None:
        print("bench.lockstep: PyTorch is not installed; nothing to compare against")
        return 1
    tune()  # as the `stepgrad` command does
    torch.set_num_threads(2 if args.model == "gpt" else 1)  # the MLP's tiny ops only lose to thread wake-ups
    print("   step  " + ("" if args.torch_only else "engine loss  ") + "torch loss", flush=True)
    report = lambda line: print(line, flush=True)  # noqa: E731
    if args.model == "gpt":
        _, final = run_gpt(torch, ds, steps, args.seed, report, engine=not args.torch_only)
        ours, theirs = final["val"]
        print("whole validation split: " + ("" if args.torch_only else f"engine {ours:.4f}, ") + f"torch {theirs:.4f}")
    else:
        _, final = run_mlp(torch, ds, steps, args.seed, report=report)
        for split, (ours, theirs) in final.items():
            print(f"whole {split} split: engine {ours:.4f}, torch {theirs:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
