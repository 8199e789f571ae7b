"""The ``stepgrad`` command: one argparse program with a subcommand per job.

    stepgrad linreg                     the seed example: fit a line by gradient descent
    stepgrad train --model gpt ...      train a character-level language model
    stepgrad sample --checkpoint F      print text from a trained model
    stepgrad graph --model mlp -o F     draw a model's computation graph
    stepgrad optimizers -o F.png        draw optimizer paths on two test surfaces
    stepgrad explore                    write a page that steps through forward and backward
    stepgrad demo                       all of the above in under three minutes
    stepgrad export --to nanogpt ...    a GPT checkpoint as a nanoGPT run (ckpt.pt, meta.pkl)
    stepgrad import CKPT -o F           a nanoGPT ckpt.pt as a stepgrad checkpoint
    stepgrad exercise N FILE            check your solution to exercise N of docs/exercises.md

Every problem the user can fix ends the program with one line
``stepgrad: error: ...`` and exit status 1 (argparse's usage errors: 2);
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from typing import Sequence

import numpy as np

from engine import tune
from engine.files import FormatError
from models.checkpoint import CheckpointError
from models.data import MAX_DATA_BYTES, DataError
from models.graph_cmd import GraphError, main_graph
from models.hf_gpt2 import PretrainedError
from models.init_from import InitFromError
from models.interrupt import Terminated, TrainingInterrupted, terminate_like_interrupt
from models.metrics import MetricsError
from models.registry import MODELS
from models.run_folder import check_unlocked
from models.rules import NONNEG_FLOAT, NONNEG_INT, POSITIVE_FLOAT, POSITIVE_INT, PROBABILITY
from models.sampling import SamplingError
from models.sizes import SizeError
from models.start import EXIT_INTERRUPTED
from models.tokenizer import TokenizerError
from models.train import train
from models.train_config import (FINAL_EVALS, LM_OPTIMIZERS, MODEL_DEFAULTS, TrainConfig, TrainError,
                                 config_from_checkpoint, make_config)
from optim import OPTIMIZERS, OptimizerNotFound

PROG = "stepgrad"
USER_ERRORS = (DataError, CheckpointError, TokenizerError, TrainError, MetricsError, PretrainedError, InitFromError,
               GraphError, SizeError, FormatError, OptimizerNotFound, SamplingError, OSError)
DEFAULT_TRAIN_OUT = "stepgrad-out"
EXIT_ERROR, EXIT_USAGE, EXIT_TERMINATED = 1, 2, 143  # 143: 128 + SIGTERM (EXIT_INTERRUPTED: models/start.py)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are two lines: the usage and the problem."""

    def error(self, message: str) -> None:
        """Print the one-line usage and ``PROG CMD: error: message``; exit with status 2."""
        usage = " ".join(self.format_usage().split())
        hint = f" (see '{self.prog} --help')"
        self.exit(EXIT_USAGE, f"{usage}\n{self.prog}: error: {' '.join(message.split())}{hint}\n")


class CommandParser(Parser):
    """A subcommand's parser: an option it does not know is its own usage error, with its own usage.

    argparse leaves a subcommand's unknown arguments to the top-level parser,
    which would answer ``stepgrad train --itres 5`` with the top-level usage.
    """

    def parse_known_args(self, args=None, namespace=None):
        """Parse like argparse, but refuse unrecognized arguments here (``error``) instead of passing them up."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


# ------------------------------------------------------------ argument types

def graph_depth(text: str):
    """``stepgrad graph --depth`` and ``explore --depth``: 'auto', 'all' (every op: None) or a whole number >= 1."""
    if text in ("auto", "all"):
        return None if text == "all" else text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'auto', 'all' or a positive integer")
    return value


# ------------------------------------------------------------ the parser

def build_parser() -> Parser:
    """The ``stepgrad`` argument parser with all subcommands."""
    parser = Parser(
        prog=PROG,
        usage=f"{PROG} {{linreg,train,sample,graph,optimizers,explore,demo,export,import,exercise}} ...",
        description="stepgrad: a from-scratch autodiff engine on numpy, its optimizers, a tiny "
                    "character-level GPT and pictures of computation graphs. New here? Run "
                    "'stepgrad demo'.",
        epilog=f"Each command has its own help, e.g. '{PROG} train --help'.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    debug = Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="show a full traceback when something fails")
    _add_linreg(commands, debug)
    _add_train(commands, debug)
    _add_sample(commands, debug)
    _add_graph(commands, debug)
    _add_optimizers(commands, debug)
    _add_explore(commands, debug)
    _add_demo(commands, debug)
    _add_export(commands, debug)
    _add_import(commands, debug)
    _add_exercise(commands, debug)
    return parser


def _command(commands, name: str, parent: Parser, usage: str, summary: str, description: str,
             example: str) -> Parser:
    return commands.add_parser(
        name, parents=[parent], prog=f"{PROG} {name}", usage=f"{PROG} {name} {usage}", help=summary,
        description=description, epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_linreg(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "linreg", parent, "[--optimizer NAME] [--lr LR] [--steps N] [--tol TOL] [--seed N] [--out DIR]",
        "fit a straight line by gradient descent (the seed example)",
        "Fit y = theta0 + theta1 * x to 100 points with x ~ U(0,1) and y = 2x + 1 + U(0,1) noise,\n"
        "starting from theta0 = theta1 = 0 and minimising the mean squared error. Prints the\n"
        "loss every 100 steps, then the final thetas beside the closed-form least-squares\n"
        "answer. The loop: compute the loss -> converged? -> gradient -> update -> repeat.",
        f"{PROG} linreg --optimizer newton --tol 1e-9")
    cmd.add_argument("--optimizer", default="sgd", metavar="NAME",
                     help=f"update rule: {', '.join(OPTIMIZERS)}, one an installed package adds ('stepgrad "
                          "optimizers' lists them) or your own class as module:Class or file.py:Class "
                          "(default: sgd); newton reaches least squares in one step")
    cmd.add_argument("--lr", type=POSITIVE_FLOAT, metavar="LR", help=_linreg_lr_help())
    cmd.add_argument("--steps", type=POSITIVE_INT, metavar="N",
                     help="number of steps (default: 1000; with --tol an upper limit, default 100000)")
    cmd.add_argument("--tol", type=POSITIVE_FLOAT, metavar="TOL",
                     help="stop once a step changes the loss by less than TOL (converged: "
                          "|loss - previous loss| < TOL) and report the step count (default: off)")
    cmd.add_argument("--seed", type=NONNEG_INT, default=0, metavar="N", help="seed of the data set (default: 0)")
    cmd.add_argument("--out", metavar="DIR",
                     help="also write metrics.jsonl, loss.png and linreg.png (data and fitted lines) to DIR")
    cmd.set_defaults(handler=_run_linreg)


def _linreg_lr_help() -> str:
    from models.linreg_run import DEFAULT_LRS

    rates = ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LRS.items())
    return (f"learning rate (default per optimizer: {rates}; sgd's is the guide's, the others reach least "
            "squares within 1000 steps; any other optimizer: its own default lr)")


def _train_defaults_text() -> str:
    rows = []
    for name, defaults in MODEL_DEFAULTS.items():
        items = ", ".join(f"--{key.replace('_', '-')} {value:g}" for key, value in defaults.items())
        rows.append(_wrap(name, items))
    common = TrainConfig()
    rows.append(_wrap("all", f"--optimizer {common.optimizer} (betas {common.betas}), --grad-clip "
                             f"{common.grad_clip:g}, --seed {common.seed}, 90/10 train/val split"))
    return ("Defaults per model (any flag overrides them):\n" + "\n".join(rows) + "\n"
            "gpt is nanoGPT's CPU recipe for tiny Shakespeare (no biases, tied embeddings, GELU).\n"
            "Weight decay applies to matrices only (ndim >= 2), never to biases or LayerNorm gains.")


def _wrap(name: str, text: str) -> str:
    return textwrap.fill(text, 88, initial_indent=f"  {name:7s} ", subsequent_indent=" " * 10,
                         break_on_hyphens=False)


def _add_train(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "train", parent,
        "[--model {bigram,mlp,gpt}] [--data PATH|shakespeare] [--steps N] [--out DIR] [options]",
        "train a character-level language model",
        "Train a bigram, MLP or GPT model on a text file, one character per token. Shows a\n"
        "progress bar (loss, lr, steps/s, ETA) and writes to --out: metrics.jsonl (one line\n"
        "per step: step, loss, lr, ms, and on eval steps val_loss and val_kind),\n"
        "checkpoint.safetensors (at every eval, at the end and on Ctrl-C) and loss.png. The\n"
        "learning rate warms up linearly for --warmup-steps, then follows a cosine from --lr\n"
        "down to --min-lr at the last step. Evaluations score --eval-iters random validation\n"
        "batches; the last one scores the whole validation split (--final-eval). Ctrl-C or\n"
        "SIGTERM stops after the current step and saves; --resume continues.\n\n"
        "A file with one word per line (no spaces, such as makemore's names.txt) is a word\n"
        "list: its words are shuffled once (seed 42), split by word, and every word starts a\n"
        "fresh context, as in makemore; --word-list / --no-word-list override the guess.\n\n"
        + _train_defaults_text(),
        f"{PROG} train --model gpt --data shakespeare --steps 2000 --out out-gpt")
    cmd.add_argument("--model", choices=list(MODELS), help="which model (default: gpt)")
    cmd.add_argument("--data", metavar="PATH",
                     help="a UTF-8 text file, or 'shakespeare' for tiny Shakespeare, which comes with stepgrad "
                          "(default: shakespeare)")
    cmd.add_argument("--word-list", action=argparse.BooleanOptionalAction,
                     help="every line of --data is a word of its own (default: yes if every line is one word)")
    cmd.add_argument("--out", metavar="DIR", help=f"output directory (default: {DEFAULT_TRAIN_OUT})")
    cmd.add_argument("--steps", type=POSITIVE_INT, metavar="N", help="train until this step (default: per model)")
    cmd.add_argument("--seed", type=NONNEG_INT, metavar="N",
                     help="seed of weights, dropout and batches (default: 1337)")
    cmd.add_argument("--batch-size", type=POSITIVE_INT, metavar="N", help="sequences per step")
    cmd.add_argument("--block-size", type=POSITIVE_INT, metavar="N",
                     help="context: the characters one prediction sees (mlp, gpt); also the characters per "
                          "sequence of bigram and gpt")
    cmd.add_argument("--seq-len", type=POSITIVE_INT, metavar="N",
                     help="characters predicted per sequence (mlp), each from its own --block-size characters "
                          "before it")
    cmd.add_argument("--n-layer", type=POSITIVE_INT, metavar="N", help="transformer blocks (gpt)")
    cmd.add_argument("--n-head", type=POSITIVE_INT, metavar="N", help="attention heads per block (gpt)")
    cmd.add_argument("--n-embd", type=POSITIVE_INT, metavar="N", help="embedding width (mlp, gpt)")
    cmd.add_argument("--n-hidden", type=POSITIVE_INT, metavar="N", help="hidden units (mlp)")
    cmd.add_argument("--dropout", type=PROBABILITY, metavar="P", help="dropout probability (gpt)")
    cmd.add_argument("--optimizer", metavar="NAME",
                     help=f"update rule: {', '.join(LM_OPTIMIZERS)}, one an installed package adds or your "
                          "own class as module:Class or file.py:Class (default: adamw)")
    cmd.add_argument("--lr", type=POSITIVE_FLOAT, metavar="LR", help="peak learning rate")
    cmd.add_argument("--min-lr", type=NONNEG_FLOAT, metavar="LR", help="learning rate at the last step")
    cmd.add_argument("--warmup-steps", type=NONNEG_INT, metavar="N", help="steps of linear warm-up")
    cmd.add_argument("--weight-decay", type=NONNEG_FLOAT, metavar="WD", help="weight decay on matrices (0: off)")
    cmd.add_argument("--grad-clip", type=NONNEG_FLOAT, metavar="NORM", help="clip the gradient norm to this (0: off)")
    cmd.add_argument("--eval-interval", type=NONNEG_INT, metavar="N",
                     help="evaluate on the val split every N steps and after the last one (0: never)")
    cmd.add_argument("--eval-iters", type=POSITIVE_INT, metavar="N", help="val batches per evaluation")
    cmd.add_argument("--final-eval", choices=list(FINAL_EVALS),
                     help="the last evaluation: full scores every position of the validation split once, "
                          "sampled scores --eval-iters random batches like the others (default: full)")
    cmd.add_argument("--init-from", metavar="FILE",
                     help="start from the weights of a saved model (a stepgrad checkpoint, or a nanoGPT ckpt.pt): "
                          "its kind, sizes and vocabulary; fresh optimizer, step 0 (fine-tuning)")
    run = cmd.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true",
                     help="continue the run saved in --out up to --steps (default: the saved run's), with "
                          "the saved settings; with the same --steps the losses are exactly those of an "
                          "uninterrupted run (a new --steps stretches the cosine schedule)")
    run.add_argument("--overwrite", action="store_true",
                     help="start a new run in --out even if it holds another run: that run's checkpoint, "
                          "metrics and loss curve are deleted first (without this, a new run refuses such a folder)")
    cmd.add_argument("--log-stats", action="store_true",
                     help="record per-step statistics in metrics.jsonl (optim_stats, grad_norm, saturation) "
                          "and draw stats.png: update-to-data ratios, gradient norms, saturated tanh/GELU units")
    cmd.add_argument("--max-data-mb", type=POSITIVE_FLOAT, default=MAX_DATA_BYTES / 1e6, metavar="MB",
                     help=f"refuse a --data file larger than this many megabytes (default: {MAX_DATA_BYTES / 1e6:g})")
    cmd.add_argument("--no-progress", action="store_true", help="no progress bar")
    cmd.set_defaults(handler=_run_train)


def _add_sample(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "sample", parent,
        "(--checkpoint FILE | --pretrained DIR) [--prompt TEXT | --ids IDS] [--tokens N] [--temperature T] "
        "[--top-k K] [--seed N]",
        "print text generated by a trained model",
        "Load a checkpoint written by 'stepgrad train' (or 'stepgrad import') and continue the\n"
        "prompt one character at a time, sampling each from the model's predicted distribution.\n"
        "--pretrained DIR samples from a local Hugging Face GPT-2 folder instead: token ids in\n"
        "and out with --ids, or text with --prompt (needs: pip install 'stepgrad[gpt2]').",
        f"{PROG} sample --checkpoint out-gpt/checkpoint.safetensors --prompt 'ROMEO:' --tokens 300")
    source = cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="FILE", help="a checkpoint.safetensors file")
    source.add_argument("--pretrained", metavar="DIR",
                        help="a Hugging Face GPT-2 folder (config.json, model.safetensors)")
    cmd.add_argument("--prompt", metavar="TEXT",
                     help="text to continue, made of characters of the training text (default: a newline, "
                          "or the first character of the vocabulary if it has none)")
    cmd.add_argument("--ids", metavar="IDS",
                     help="with --pretrained: prompt token ids, e.g. '15496 11'; prints token ids")
    cmd.add_argument("--tokens", type=NONNEG_INT, default=500, metavar="N",
                     help="tokens to generate: characters, or BPE tokens with --pretrained (default: 500)")
    cmd.add_argument("--temperature", type=NONNEG_FLOAT, default=1.0, metavar="T",
                     help="below 1 more predictable, above 1 more random, 0 always the likeliest (default: 1)")
    cmd.add_argument("--top-k", type=POSITIVE_INT, metavar="K", help="sample only among the K likeliest characters")
    cmd.add_argument("--seed", type=NONNEG_INT, metavar="N", help="seed for reproducible text (default: random)")
    cmd.set_defaults(handler=_run_sample)


def _add_graph(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "graph", parent,
        "[--model {linreg,bigram,mlp,gpt} | --checkpoint FILE] [-o FILE] [--format svg|png|pdf|dot] "
        "[--view forward|backward] [--check] [--depth auto|all|N] [--max-nodes N]",
        "draw the computation graph of a model's loss",
        "Build a small model, run one batch through it, compute the loss and draw the\n"
        "recorded graph: one box per op (its name and output shape), the parameters as\n"
        "labelled leaves, modules as frames or, when the graph is big, collapsed into boxes.\n"
        "--checkpoint draws a saved model instead (one random batch of its vocabulary).\n"
        "The forward view is drawn after backward (parameters show their .grad); the backward\n"
        "view labels every arrow with the gradient it carries. A PNG, which cannot be zoomed,\n"
        "collapses modules until its text is readable on a screen (unless --depth is given).\n"
        "Needs Graphviz's 'dot' program for svg and png.",
        f"{PROG} graph --model linreg --view backward --check -o linreg.svg")
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--model", choices=["linreg", *MODELS], help="which fresh model (default: mlp)")
    source.add_argument("--checkpoint", metavar="FILE",
                        help="draw the model saved in a checkpoint (from train or import) instead")
    cmd.add_argument("-o", "--output", metavar="FILE", help="output file (default: MODEL-graph.FORMAT)")
    cmd.add_argument("--format", choices=["svg", "png", "pdf", "dot"],
                     help="picture format (default: from the file name's suffix, else svg)")
    cmd.add_argument("--view", choices=["forward", "backward"], default="forward",
                     help="forward: data flowing to the loss, values and .grad; backward: arrows reversed, each "
                          "labelled with the gradient it carries (default: forward)")
    cmd.add_argument("--check", action="store_true",
                     help="check every parameter's gradient against float64 central differences and colour it "
                          "green, orange or red by the relative error")
    cmd.add_argument("--depth", type=graph_depth, default="auto", metavar="auto|all|N",
                     help="collapse each module N dotted names deep into one box; all: draw every op; auto: every "
                          "op if that makes at most 60 nodes, else as deep as stays within 60 (default: auto)")
    cmd.add_argument("--max-nodes", type=POSITIVE_INT, default=300, metavar="N",
                     help="refuse to draw more nodes than this (default: 300)")
    cmd.set_defaults(handler=_run_graph)


def _add_optimizers(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "optimizers", parent, "[-o FILE.png] [--steps N]",
        "list the optimizers, or draw their paths on two test functions",
        "List the optimizers --optimizer accepts: the built-in ones and those installed\n"
        "packages add (entry-point group stepgrad.optimizers), with what each step needs.\n"
        "With -o, run SGD, momentum, Nesterov, RMSprop, Adam and Newton from the same start\n"
        "on Rosenbrock's banana valley and on a stretched bowl, and draw their paths over\n"
        "the contour lines.",
        f"{PROG} optimizers -o optimizers.png")
    cmd.add_argument("-o", "--output", metavar="FILE",
                     help="draw the paths into this picture file; the suffix picks the format")
    cmd.add_argument("--steps", type=POSITIVE_INT, default=500, metavar="N",
                     help="steps per optimizer (default: 500)")
    cmd.set_defaults(handler=_run_optimizers)


def _add_explore(commands, parent: Parser) -> None:
    from models.explore_cmd import EXAMPLES

    cmd = _command(
        commands, "explore", parent,
        f"[--example {{{','.join(EXAMPLES)}}} | --checkpoint FILE] [--depth auto|all|N] [--max-nodes N] "
        "[-o FILE.html]",
        "write a page that steps through a forward and backward pass",
        "Write one self-contained HTML page (open it in any browser, no server needed) that\n"
        "walks through an example's forward pass op by op and its backward pass edge by edge,\n"
        "with the engine's own values and gradients, beside the graph and the trace table.\n"
        "Examples: linreg, the seed's linear regression (three iterations of the training loop);\n"
        "neuron, one tanh neuron; mlp, a small MLP; gpt, one GPT training step, modules collapsed.\n"
        "--checkpoint FILE explores one random batch through a saved model (from train or import).\n"
        "--depth collapses modules into boxes as stepgrad graph --depth does; when the picture would have\n"
        "more than --max-nodes nodes, modules are collapsed deeper until it fits.",
        f"{PROG} explore --example neuron -o neuron.html")
    source = cmd.add_mutually_exclusive_group()
    source.add_argument("--example", choices=list(EXAMPLES), help="which example (default: linreg)")
    source.add_argument("--checkpoint", metavar="FILE", help="a saved language model instead of an example")
    cmd.add_argument("--depth", type=graph_depth, default=argparse.SUPPRESS, metavar="auto|all|N",
                     help="collapse each module N dotted names deep into one box, one step each way; all: every "
                          "op; auto: as stepgrad graph (default: every op; gpt: 4; a checkpoint: auto)")
    cmd.add_argument("--max-nodes", type=POSITIVE_INT, default=300, metavar="N",
                     help="the most nodes the picture may have (default: 300)")
    cmd.add_argument("-o", "--output", metavar="FILE.html", help="the page to write (default: backprop-EXAMPLE.html)")
    cmd.set_defaults(handler=_run_explore)


def _add_demo(commands, parent: Parser) -> None:
    from models.demo import DEFAULT_OUT, DEFAULT_STEPS

    cmd = _command(
        commands, "demo", parent, "[--out DIR] [--steps N] [--data PATH|shakespeare]",
        "the tour: linear regression, a short GPT run, a sample and pictures",
        "Fit the seed's line by gradient descent, train a small GPT on tiny Shakespeare (which\n"
        f"comes with stepgrad: no network needed) for {DEFAULT_STEPS} steps with a progress bar, print\n"
        "a sample of its text, and draw its loss curve, its inner statistics (stats.png) and its\n"
        "computation graph. Takes under three minutes on two cores; at the end it lists every\n"
        "file it wrote.",
        f"{PROG} demo --out stepgrad-demo")
    cmd.add_argument("--out", metavar="DIR", default=DEFAULT_OUT, help=f"output directory (default: {DEFAULT_OUT})")
    cmd.add_argument("--steps", type=POSITIVE_INT, default=DEFAULT_STEPS, metavar="N",
                     help=f"GPT training steps (default: {DEFAULT_STEPS})")
    cmd.add_argument("--data", metavar="PATH", default="shakespeare",
                     help="training text (default: shakespeare)")
    cmd.add_argument("--sample-tokens", type=NONNEG_INT, default=300, help=argparse.SUPPRESS)
    cmd.add_argument("--eval-iters", type=POSITIVE_INT, help=argparse.SUPPRESS)
    cmd.set_defaults(handler=_run_demo)


def _add_export(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "export", parent, "--checkpoint FILE --to nanogpt -o DIR [--dataset NAME] [--data PATH]",
        "write a GPT checkpoint as a nanoGPT run (needs PyTorch)",
        "Write the GPT of a stepgrad checkpoint in nanoGPT's layout, ready to copy into a\n"
        "nanoGPT checkout: DIR/out-NAME/ckpt.pt (weights, AdamW state, model_args, config)\n"
        "and DIR/data/NAME/meta.pkl (the vocabulary), plus train.bin and val.bin when the\n"
        "training text is at hand. nanoGPT's sample.py and train.py --init_from=resume read\n"
        "it unchanged. Needs PyTorch: pip install 'stepgrad[torch]'.",
        f"{PROG} export --checkpoint out-gpt/checkpoint.safetensors --to nanogpt -o nanogpt-export")
    cmd.add_argument("--checkpoint", required=True, metavar="FILE", help="a GPT checkpoint.safetensors")
    cmd.add_argument("--to", required=True, choices=["nanogpt"], help="the target format: nanogpt")
    cmd.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created if needed)")
    cmd.add_argument("--dataset", default="stepgrad", metavar="NAME",
                     help="nanoGPT dataset name: data/NAME/ and out-NAME/ (default: stepgrad)")
    cmd.add_argument("--data", metavar="PATH",
                     help="text for train.bin/val.bin (default: the text the checkpoint was trained on)")
    cmd.set_defaults(handler=_run_export)


def _add_import(commands, parent: Parser) -> None:
    cmd = _command(
        commands, "import", parent, "CKPT [--meta META] -o FILE.safetensors",
        "read a nanoGPT ckpt.pt into a stepgrad checkpoint (needs PyTorch)",
        "Read a character-level nanoGPT checkpoint (ckpt.pt) and its vocabulary (meta.pkl,\n"
        "found as nanoGPT's sample.py finds it, or --meta) into a stepgrad checkpoint that\n"
        "sample, graph --checkpoint and train --init-from accept. Neither file can run code:\n"
        "ckpt.pt is read with torch.load(weights_only=True), meta.pkl accepts plain data only.",
        f"{PROG} import nanoGPT/out-shakespeare-char/ckpt.pt -o shakespeare.safetensors")
    cmd.add_argument("ckpt", metavar="CKPT", help="nanoGPT's ckpt.pt")
    cmd.add_argument("--meta", metavar="META", help="the dataset's meta.pkl (default: as sample.py finds it)")
    cmd.add_argument("-o", "--output", required=True, metavar="FILE", help="the stepgrad checkpoint to write")
    cmd.set_defaults(handler=_run_import)


def _add_exercise(commands, parent: Parser) -> None:
    from models.exercises import EXERCISES

    listing = "\n".join(f"  {n}  {module.TITLE}" for n, module in EXERCISES.items())
    cmd = _command(
        commands, "exercise", parent, "N FILE",
        "check your solution to an exercise of docs/exercises.md",
        "Run exercise N's check on FILE, your Python file: it prints 'pass' and what it\n"
        "checked, or 'not yet' and the one thing to fix next (exit status 1). The exercises\n"
        "(docs/exercises.md has each one's task and starting code):\n" + listing,
        f"{PROG} exercise 1 softplus.py")
    cmd.add_argument("number", type=int, choices=list(EXERCISES), metavar="N",
                     help=f"the exercise: {', '.join(map(str, EXERCISES))}")
    cmd.add_argument("file", metavar="FILE", help="your solution, a Python file")
    cmd.set_defaults(handler=_run_exercise)


# ------------------------------------------------------------ the commands

def _run_linreg(args) -> int:
    from models.linreg_run import main_linreg

    return main_linreg(args)


TRAIN_FLAGS = ("model", "data", "word_list", "steps", "seed", "batch_size", "block_size", "seq_len", "n_layer",
               "n_head", "n_embd", "n_hidden", "dropout", "optimizer", "lr", "min_lr", "warmup_steps",
               "weight_decay", "grad_clip", "eval_interval", "eval_iters", "final_eval", "init_from")


def _run_train(args) -> int:
    given = {key: getattr(args, key) for key in TRAIN_FLAGS}
    given["log_stats"] = args.log_stats or None
    out = args.out or DEFAULT_TRAIN_OUT
    source = None
    if args.resume:
        check_unlocked(out)  # first: a run just starting there holds the lock but has no checkpoint yet
        config = config_from_checkpoint(out, **given)
    else:
        if args.init_from:
            from models.init_from import load_source, sizes_from

            source = load_source(args.init_from)  # read once: for the sizes here, and the weights in train
            given = sizes_from(source, given, args.init_from)
        model = given.pop("model") or "gpt"
        config = make_config(model, out=out, **given)
    try:
        train(config, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite,
              max_data_bytes=int(args.max_data_mb * 1e6), init_source=source)
    except TrainingInterrupted as stop:
        terminated = stop.signum == signal.SIGTERM
        print(f"{PROG}: {'terminated (SIGTERM)' if terminated else 'interrupted'} at step {stop.step}; "
              f"checkpoint saved; continue with: {PROG} train --out {stop.out} --resume", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    return 0


def _run_sample(args) -> int:
    from models.display import shown_on
    from models.sampling import generate_tokens
    from models.trained import default_prompt, load_model

    if args.pretrained:
        from models.pretrained_cmd import main_sample_pretrained

        return main_sample_pretrained(args)
    if args.ids is not None:
        raise PretrainedError("--ids goes with --pretrained; a checkpoint's prompt is text (--prompt)")

    model, tokenizer, _ = load_model(args.checkpoint)
    prompt = args.prompt or default_prompt(tokenizer)
    ids = tokenizer.encode(prompt, what="prompt")[None, :]  # (1, T)
    show = shown_on(sys.stdout)  # a vocabulary's control characters are escaped on a terminal
    sys.stdout.write(show(prompt))
    sys.stdout.flush()
    for token in generate_tokens(model, ids, args.tokens, temperature=args.temperature, top_k=args.top_k,
                                 rng=args.seed):  # no seed: the engine's randomly seeded generator
        sys.stdout.write(show(tokenizer.decode(token)))  # each character as soon as it is drawn
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _run_graph(args) -> int:
    return main_graph(args)


def _run_optimizers(args) -> int:
    from models.optimizers_cmd import main_optimizers

    return main_optimizers(args)


def _run_explore(args) -> int:
    from models.explore_cmd import main_explore

    return main_explore(args)


def _run_demo(args) -> int:
    from models.demo import run_demo

    try:
        run_demo(args.out, steps=args.steps, data=args.data, sample_tokens=args.sample_tokens,
                 eval_iters=args.eval_iters)
    except TrainingInterrupted as stop:
        print(f"{PROG}: demo interrupted at step {stop.step}; partial results are in {args.out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run_export(args) -> int:
    from models.nanogpt_cmd import main_export

    return main_export(args)


def _run_exercise(args) -> int:
    from models.exercise_cmd import main_exercise

    return main_exercise(args)


def _run_import(args) -> int:
    from models.nanogpt_cmd import main_import

    return main_import(args)


# ------------------------------------------------------------ entry point

def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stepgrad`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    tune()  # faster training steps: malloc keeps freed memory, OpenBLAS's idle threads sleep soon (engine.tune)
    try:
        # SIGTERM unwinds like Ctrl-C; floating-point trouble is reported by the checks, never as numpy warnings
        with terminate_like_interrupt(), np.errstate(all="ignore"):
            return args.handler(args)
    except BrokenPipeError:  # e.g. `stepgrad sample ... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Terminated:
        print(f"{PROG}: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except USER_ERRORS as error:
        if args.debug:
            raise
        _error(_one_line(error))
    except Exception as error:  # noqa: BLE001 - a bug, reported in one line unless --debug
        if args.debug:
            raise
        _error(f"unexpected {type(error).__name__}: {_one_line(error)} (run again with --debug for the traceback)")
    return EXIT_ERROR


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
    return text or type(error).__name__


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
