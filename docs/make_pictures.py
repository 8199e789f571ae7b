"""Regenerate every picture in docs/ from the project itself, with one command.

    python docs/make_pictures.py                 # everything
    python docs/make_pictures.py linreg autodiff # only some groups

Groups:
  graphs      docs/pictures/make_graph_pictures.py (the model graphs of docs/graphs.md)
  autodiff    the small expression of docs/autodiff.md: forward and backward views, and every
              node's gradient kept with retain_grad()
  linreg      docs/linear-regression.md: the fitted lines and loss curves
  optimizers  docs/optimizers.md: optimizer paths on two test surfaces
  lm          docs/language-model.md: loss curves of the recorded runs in docs/results/
  explorer    docs/watch-backprop.md: screenshots of the backprop explorer in headless Chromium,
              taken by the driver the browser tests use (tests/explorer_browser.py)
  lm_stats    docs/language-model.md: stats.png of a short MLP run with --log-stats

Every picture is drawn by the project's own code (`engine.viz.draw_graph`,
`models.plots`, `optim.trajectories`) from runs made here, so the docs show what the
code does today. The language-model curves are the exception that proves the rule:
training the GPT takes many minutes, so they are drawn from the run records committed
in docs/results/ (every 10th step of `metrics.jsonl`, written by `stepgrad train`).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ROOT / "docs" / "pictures"


def _written(path):
    print(f"wrote {Path(path).relative_to(ROOT)}")


def graphs():
    """The model graphs, by the graph-pictures script (run as its own program)."""
    script = PICTURES / "make_graph_pictures.py"
    subprocess.run([sys.executable, str(script)], cwd=ROOT, check=True)


def autodiff_expression():
    """L = (a*b + c) * f, the expression of autodiff.md: its tensors, leaves named."""
    from engine import Tensor
    a = Tensor(2.0, requires_grad=True, name="a")
    b = Tensor(-3.0, requires_grad=True, name="b")
    c = Tensor(10.0, requires_grad=True, name="c")
    f = Tensor(-2.0, requires_grad=True, name="f")
    e = a * b
    e.name = "e"
    d = e + c
    d.name = "d"
    L = d * f
    L.name = "L"
    return L


def autodiff():
    """The forward view (values), the backward view (edge gradients), and after backward with
    retain_grad() on the intermediate nodes (every node's value and .grad)."""
    from engine import Tensor
    from engine.autograd import toposort
    from engine.viz import draw_graph, save_graph

    L = autodiff_expression()
    _written(save_graph(draw_graph(L), PICTURES / "autodiff_expression.png"))
    _written(save_graph(draw_graph(L, view="backward"), PICTURES / "autodiff_backward.png"))
    L = autodiff_expression()
    for node in toposort([L]):
        if node.grad_fn is not None:
            node.retain_grad()
    L.backward()
    _written(save_graph(draw_graph(L), PICTURES / "autodiff_retain_grad.png"))

    x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], name="x")
    w = Tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    s = (x * w).sum()
    _written(save_graph(draw_graph(s, view="backward"), PICTURES / "autodiff_broadcast.png"))


def linreg():
    """Gradient descent (1000 steps) and one Newton step on the seed example; fits and losses."""
    from models import least_squares, make_data
    from models.linreg_run import run_linreg
    from models.plots import plot_linreg

    quiet = lambda line: None  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        gd = run_linreg("sgd", out=tmp, echo=quiet)
        (PICTURES / "linreg_loss.png").write_bytes((Path(tmp) / "loss.png").read_bytes())
    _written(PICTURES / "linreg_loss.png")
    newton = run_linreg("newton", steps=1, echo=quiet)
    x, y = make_data(100, seed=0)
    fits = {"gradient descent, lr 0.01, 1000 steps": gd.theta, "Newton, 1 step": newton.theta,
            "least squares": least_squares(x, y)}
    losses = {"gradient descent, lr 0.01": gd.losses, "Newton": newton.losses}
    plot_linreg(x, y, fits, PICTURES / "linreg_fit.png", losses=losses)
    _written(PICTURES / "linreg_fit.png")


def optimizers():
    """SGD, momentum, Nesterov, RMSprop, Adam and Newton on Rosenbrock and an ill-conditioned bowl."""
    from optim.trajectories import plot_trajectories
    path = PICTURES / "optimizer_trajectories.png"
    plot_trajectories(path, steps=500)
    _written(path)


#: (label, run record in docs/results, colour) of the language-model curves
LM_RUNS = (("Bigram", "shakespeare_bigram.jsonl", "#ff7f0e"), ("MLP", "shakespeare_mlp.jsonl", "#2ca02c"),
           ("GPT", "shakespeare_gpt.jsonl", "#1f77b4"))


def lm():
    """Train (smoothed) and val loss of the Bigram, MLP and GPT runs on tiny Shakespeare."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from models.metrics import read_metrics
    from models.plots import smooth

    fig = Figure(figsize=(8, 4.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, name, color in LM_RUNS:
        records = read_metrics(ROOT / "docs" / "results" / name)
        steps = [r["step"] for r in records]
        ax.plot(steps, smooth([r["loss"] for r in records]), color=color, linewidth=1.4, alpha=0.6,
                label=f"{label} train (smoothed)")
        val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
        ax.plot(*zip(*val), color=color, marker="o", markersize=4, linewidth=2,
                label=f"{label} val (last {val[-1][1]:.3f})")
    ax.axhline(2.482, color="0.4", linestyle="--", linewidth=1, label="bigram by counting, val 2.482")
    ax.axhline(1.904, color="0.4", linestyle=":", linewidth=1, label="PyTorch, nanoGPT recipe, val 1.904")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (nats per character)")
    ax.set_title("Character-level models on tiny Shakespeare")
    ax.grid(True, alpha=0.3)
    ax.legend(frameon=False, fontsize=8.5)
    path = PICTURES / "lm_loss.png"
    fig.savefig(path)
    _written(path)


#: (picture, example, which step: a function of the explorer's steps giving an index)
EXPLORER_SHOTS = (
    ("explorer_forward.png", "neuron", lambda steps: _find(steps, "forward", "n = add")),
    ("explorer_backward.png", "neuron", lambda steps: _find(steps, "backward", "o (tanh) → n")),
    ("explorer_broadcast.png", "linreg", lambda steps: _find(steps, "backward", "prediction (add) → theta0")),
    ("explorer_update.png", "linreg", lambda steps: _find(steps, "update", "theta1")),
    ("explorer_gpt.png", "gpt", lambda steps: _find(steps, "backward", "transformer.h.3.attn")),
)


def _find(steps, phase, title_start):
    """The first step of `phase` whose title starts with `title_start`."""
    return next(k for k, s in enumerate(steps) if s["phase"] == phase and s["title"].startswith(title_start))


def explorer():
    """The explorer pages of `stepgrad explore`, opened in headless Chromium at a telling step."""
    sys.path.insert(0, str(ROOT / "tests"))
    from explorer_browser import Browser, unavailable

    from models.explore_cmd import example_explorer

    reason = unavailable()
    if reason:
        print(f"explorer screenshots skipped: {reason}", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp, Browser(viewport={"width": 1280, "height": 760}) as browser:
        for picture, example, which in EXPLORER_SHOTS:
            ex = example_explorer(example)
            page = browser.open(ex.save(Path(tmp) / f"{example}.html"))
            page.go(which(ex.steps))
            page.page.wait_for_timeout(500)  # let the highlight's fade finish
            _written(page.screenshot(PICTURES / picture))
            page.close()


#: the run whose stats.png docs/language-model.md shows (a short MLP run on tiny Shakespeare)
LM_STATS_RUN = dict(model="mlp", data="shakespeare", steps=1000, eval_interval=0, log_stats=True)


def lm_stats():
    """stats.png of LM_STATS_RUN: update-to-data ratios, gradient norms and tanh saturation over the steps."""
    import shutil

    from models.train import make_config, train

    with tempfile.TemporaryDirectory() as tmp:
        result = train(make_config(out=tmp, **LM_STATS_RUN), progress=False, echo=lambda line: None)
        path = PICTURES / "mlp_stats.png"
        shutil.copyfile(result.out / "stats.png", path)
    _written(path)


GROUPS = {"graphs": graphs, "autodiff": autodiff, "linreg": linreg, "optimizers": optimizers, "lm": lm,
          "lm_stats": lm_stats, "explorer": explorer}


def main(argv):
    """Run the named groups (all by default); returns the exit code."""
    unknown = [a for a in argv if a not in GROUPS]
    if unknown:
        print(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    PICTURES.mkdir(parents=True, exist_ok=True)
    for name in argv or GROUPS:
        GROUPS[name]()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
