"""``stepgrad demo``: a newcomer's tour in under three minutes on two cores.

1. the seed example: a straight line fitted by gradient descent, beside the
   least-squares answer, with its loss curve, and a page that steps through its
   forward and backward pass (the backprop explorer);
2. a short GPT run (nanoGPT's CPU recipe at ``DEFAULT_STEPS`` steps instead of
   2000) on tiny Shakespeare (shipped with the package: no network needed), with
   a progress bar, its loss curve and a picture of its inner statistics
   (``stats.png``: update-to-data ratios, gradient norms, saturated GELU units);
3. a sample of the text the GPT writes now;
4. pictures of the computation graph of the GPT just trained, its loss on one batch
   of random characters differentiated (an SVG, and a PNG whose text stays readable;
   without Graphviz's ``dot`` program, the DOT text of the SVG and, in the summary,
   a line saying how to draw it);

then a list of every file written.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from engine.files import atomic_write_bytes
from models.explore_cmd import example_explorer
from models.graph_cmd import draw_model_graph
from models.linreg_run import run_linreg
from models.train import CHECKPOINT, LOSS_PLOT, METRICS, STATS_PLOT, make_config, prepare_out_dir, train
from models.trained import default_prompt

DEFAULT_OUT = "stepgrad-demo"
DEFAULT_STEPS = 500  # 30-80 s of GPT training on two cores
DEMO_LR, DEMO_MIN_LR, DEMO_WARMUP = 2e-3, 2e-4, 30  # a short run affords a larger rate
SAMPLE_TEMPERATURE = 0.8
SAMPLE_SEED = 1337


def run_demo(out: str | Path = DEFAULT_OUT, steps: int = DEFAULT_STEPS, data: str = "shakespeare",
             sample_tokens: int = 300, eval_iters: int | None = None,
             echo: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Run the tour, writing into ``out``; return ``{description: path}`` of the files written."""
    echo = echo or _echo
    started = time.perf_counter()
    out = prepare_out_dir(out)
    files: dict[str, Path] = {}

    _section(echo, "1/4", "linear regression: fit y = theta0 + theta1 * x by gradient descent (the seed example)")
    run_linreg("sgd", out=out / "linreg", echo=echo)
    files["the data with the fitted and the least-squares line, and the loss"] = out / "linreg" / "linreg.png"
    files["the linear regression's loss curve"] = out / "linreg" / LOSS_PLOT
    page = example_explorer("linreg").save(out / "linreg" / "backprop.html")
    echo(f"watch its forward and backward pass step by step: open {page} in a web browser")
    files["the linear regression's forward and backward pass, step by step (open it in a browser)"] = page

    _section(echo, "2/4", f"training a small GPT for {steps} steps (the full recipe is 2000: "
                          f"stepgrad train --model gpt)")
    config = make_config("gpt", data=data, out=str(out / "gpt"), steps=steps, lr=DEMO_LR, min_lr=DEMO_MIN_LR,
                         warmup_steps=min(DEMO_WARMUP, steps // 10), eval_interval=max(1, steps // 5),
                         eval_iters=eval_iters, log_stats=True)
    result = train(config, echo=echo, overwrite=True)  # a new tour replaces the last one's run
    echo(f"look inside the training: {result.out / STATS_PLOT} plots each parameter's update-to-data ratio, "
         "its gradient norm and the share of saturated GELU units over the steps")
    files["the GPT's training and validation loss"] = result.out / LOSS_PLOT
    files["inside the GPT's training: update-to-data ratios, gradient norms, saturation"] = result.out / STATS_PLOT
    files["one line per training step"] = result.out / METRICS
    files["the trained GPT (stepgrad sample --checkpoint ...)"] = result.out / CHECKPOINT

    _section(echo, "3/4", f"what the GPT writes now ({sample_tokens} characters, temperature {SAMPLE_TEMPERATURE})")
    text = _sample(result.model, result.tokenizer, sample_tokens)
    echo(text)
    atomic_write_bytes(result.out / "sample.txt", text.encode("utf-8", errors="backslashreplace"))
    files["that sample"] = result.out / "sample.txt"

    _section(echo, "4/4", "the computation graph of the trained GPT's loss on a batch of random characters "
                          "(modules drawn as boxes)")
    unrendered = _draw_graphs(result.out / CHECKPOINT, out, files)

    _summary(echo, out, files, time.perf_counter() - started, result.out / CHECKPOINT, unrendered)
    return files


def _draw_graphs(checkpoint: Path, out: Path, files: dict[str, Path]) -> str | None:
    """Draw the graph of the GPT saved in ``checkpoint`` (its loss on one random batch, as ``stepgrad graph
    --checkpoint`` draws it) as an SVG and a readable PNG into ``out``, adding them to ``files``.

    Without Graphviz's ``dot`` program only the SVG's DOT text is written (the PNG's would be the
    same text under the same name); returns then the line the summary prints about it, else None.
    """
    svg = draw_model_graph("gpt", out / "gpt-graph.svg", checkpoint=checkpoint)[0]
    if svg.suffix == ".dot":  # save_graph fell back to the DOT text and said so on stderr
        files["the GPT's graph as DOT text, not drawn: Graphviz is not installed"] = svg
        return (f"the graph was left as DOT text: install Graphviz (apt-get install graphviz, or brew install "
                f"graphviz) and run the demo again, or run: dot -Tsvg {svg} -o {svg.with_suffix('.svg')}")
    files["the GPT's graph (zoom in: it is a vector picture)"] = svg
    files["the GPT's graph as an image, blocks collapsed so its text stays readable"] = draw_model_graph(
        "gpt", out / "gpt-graph.png", checkpoint=checkpoint)[0]
    return None


def _sample(model, tokenizer, tokens: int) -> str:
    """Text continuing the default prompt (a newline)."""
    prompt = tokenizer.encode(default_prompt(tokenizer))[None, :]  # (1, 1)
    ids = model.generate(prompt, tokens, temperature=SAMPLE_TEMPERATURE, rng=SAMPLE_SEED)  # (1, 1 + tokens)
    return tokenizer.decode(ids[0])


def _section(echo: Callable[[str], None], number: str, title: str) -> None:
    echo("")
    echo(f"== {number} {title}")


def _summary(echo: Callable[[str], None], out: Path, files: dict[str, Path], seconds: float,
             checkpoint: Path, unrendered: str | None) -> None:
    echo("")
    echo(f"== done in {seconds:.0f} s; everything is in {out}/")
    width = max(len(str(path)) for path in files.values())
    for description, path in files.items():
        echo(f"  {str(path):{width}}  {description}")
    if unrendered:
        echo(unrendered)
    echo(f"next: stepgrad sample --checkpoint {checkpoint} --prompt 'ROMEO:'")
    echo("      stepgrad train --model gpt --data shakespeare --out out-gpt   (the full 2000-step recipe)")


def _echo(line: str) -> None:
    tqdm.write(line, file=sys.stdout)  # keeps the progress bar intact
    sys.stdout.flush()
