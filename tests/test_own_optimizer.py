"""Bring your own optimizer: a class in a file outside the repository plugs into the command line by
`module:Class`, `file.py:Class` or an installed package's entry point, and the conformance kit
(`optim.testing`) passes on it and fails, naming the check, on broken ones."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import optim
from models.linreg import least_squares, make_data
from optim.testing import ConformanceError, check_optimizer
from cli_runs import one_line_error as assert_one_line_error

ROOT = Path(__file__).resolve().parent.parent

# A user's module, written to tmp_path: stepgrad has never seen it.
LION = textwrap.dedent('''
    """Lion (Chen et al. 2023) and a few ways of getting an optimizer wrong."""
    import numpy as np

    from optim import Optimizer


    class Lion(Optimizer):
        """theta <- theta - lr * (sign(beta1 m + (1 - beta1) g) + wd theta), then m <- beta2 m + (1 - beta2) g."""

        def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

        def _update(self, param, grad, state, group):
            lr, wd = float(group["lr"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            m = state.setdefault("exp_avg", np.zeros_like(param))
            param -= lr * (np.sign(m * beta1 + grad * (1.0 - beta1)) + wd * param)
            m *= beta2
            m += grad * (1.0 - beta2)


    class ForgetfulLion(Lion):
        """Its state_dict drops the momentum, so a resumed run takes other steps."""

        def state_dict(self):
            saved = super().state_dict()
            saved["state"] = {}
            return saved


    class StubbornLion(Lion):
        """Every group steps with the optimizer's default lr, whatever the group says."""

        def _update(self, param, grad, state, group):
            super()._update(param, grad, state, {**group, "lr": self.defaults["lr"]})


    class NewtonLike(Optimizer):
        """Its step needs a closure, as Newton's does."""

        def __init__(self, params, lr=1.0):
            super().__init__(params, dict(lr=lr))

        def step(self, closure):
            """One step; the closure re-evaluates the loss."""
            return super().step(closure)

        def _update(self, param, grad, state, group):
            param -= float(group["lr"]) * grad


    def not_an_optimizer(params):
        return params
''')


@pytest.fixture
def user_dir(tmp_path):
    """A directory outside the repository holding the user's lion.py."""
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "lion.py").write_text(LION)
    return directory


@pytest.fixture
def stepgrad(tmp_path):
    """Run ``python -m models ARGS`` with the repository (and `extra` directories) on PYTHONPATH."""
    def run(*args, cwd=tmp_path, extra=()):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *map(str, extra)]), STEPGRAD_OFFLINE="1")
        return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
    return run


def final_thetas(stdout, label):
    line = next(line for line in stdout.splitlines() if line.startswith(label))
    return tuple(float(x) for x in line.split()[-2:])




# ------------------------------------------------------------------ the command line

@pytest.mark.parametrize("how", ["module in the current directory", "module on PYTHONPATH", "path to the file"])
def test_an_optimizer_from_outside_the_repository_fits_the_line(stepgrad, user_dir, tmp_path, how):
    spec, cwd, extra = {"module in the current directory": ("lion:Lion", user_dir, ()),
                        "module on PYTHONPATH": ("lion:Lion", tmp_path, (user_dir,)),
                        "path to the file": (f"{user_dir / 'lion.py'}:Lion", tmp_path, ())}[how]
    proc = stepgrad("linreg", "--optimizer", spec, "--lr", "0.01", "--steps", "600", cwd=cwd, extra=extra)
    assert proc.returncode == 0, proc.stderr
    fitted = final_thetas(proc.stdout, f"{spec} (600 steps)")
    assert fitted == pytest.approx(least_squares(*make_data(100, 0)), abs=0.03)  # within a few sign steps


def test_an_optimizer_from_outside_the_repository_trains_a_language_model_and_resumes(stepgrad, user_dir):
    (user_dir / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 30)
    common = ["--model", "bigram", "--data", "corpus.txt", "--batch-size", "4", "--block-size", "8",
              "--eval-interval", "0", "--no-progress"]
    first = stepgrad("train", *common, "--optimizer", "lion:Lion", "--lr", "0.01", "--steps", "4", cwd=user_dir)
    assert first.returncode == 0, first.stderr
    assert "lion:Lion lr 0.01" in first.stdout
    assert_one_line_error(stepgrad("train", "--resume", "--steps", "6", "--no-progress", cwd=user_dir),
                          "stepgrad imports no code a checkpoint names, so resume with --optimizer lion:Lion")
    resumed = stepgrad("train", "--resume", "--optimizer", "lion:Lion", "--steps", "6", "--no-progress", cwd=user_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "done: step 6" in resumed.stdout


@pytest.mark.parametrize("command, spec, problem", [
    ("linreg", "adamx", "unknown optimizer 'adamx'; choose one of: sgd, adam"),
    ("linreg", "nowhere:Lion", "no module named 'nowhere'"),
    ("linreg", "lion:Lino", "lion has no class 'Lino' (it defines: ForgetfulLion, Lion, NewtonLike, StubbornLion)"),
    ("linreg", "lion:not_an_optimizer", "'lion:not_an_optimizer' is not an optimizer: it is a function"),
    ("linreg", "missing.py:Lion", "optimizer file not found: missing.py"),
    ("linreg", "broken:Lion", "importing 'broken' failed: ZeroDivisionError: division by zero"),
    ("train", "lion:NewtonLike", "optimizer 'lion:NewtonLike' cannot train a language model: its step needs a "
                                 "closure"),
])
def test_a_bad_optimizer_is_one_line(stepgrad, user_dir, command, spec, problem):
    (user_dir / "broken.py").write_text("RATE = 1 / 0\n")
    (user_dir / "corpus.txt").write_text("abcdefghij" * 40)
    args = ["--data", "corpus.txt", "--model", "bigram"] if command == "train" else []
    assert_one_line_error(stepgrad(command, "--optimizer", spec, *args, cwd=user_dir), problem)


def test_a_closure_optimizer_of_ones_own_gets_its_closure_in_linreg(stepgrad, user_dir):
    proc = stepgrad("linreg", "--optimizer", "lion:NewtonLike", "--lr", "0.5", "--steps", "200", cwd=user_dir)
    assert proc.returncode == 0, proc.stderr
    assert final_thetas(proc.stdout, "lion:NewtonLike") == pytest.approx(least_squares(*make_data(100, 0)), abs=1e-3)



# ------------------------------------------------------------------ the explorer

def test_an_optimizer_from_outside_the_repository_steps_in_the_explorer(user_dir):
    from engine import Tensor
    from engine.viz import explore
    from engine.viz.explore.values import describe
    from models.linreg import LinearRegression

    x, y = make_data(5, seed=0)                                            # (5,), (5,)
    model = LinearRegression()
    lion = optim.get_optimizer(f"{user_dir / 'lion.py'}:Lion")(model.parameters(), lr=0.1)

    def loss():
        error = model(Tensor(x)) - Tensor(y)                               # (5,)
        return (error * error).mean()                                      # ()

    page = explore(loss, params=model, optimizer=lion, iterations=2)
    assert [p.data.item() for p in model.parameters()] == [0.0, 0.0]      # it stepped copies
    for _ in range(2):                                                     # the real thing
        lion.zero_grad()
        loss().backward()
        lion.step()
    updates = [s for s in page.steps if s["phase"] == "update" and s["kind"] == "param"]
    assert [s["row"][0] for s in updates] == ["theta0", "theta1"] * 2     # each parameter, each iteration
    assert all("Lion" in s["title"] for s in updates)
    shown = {f["label"]: f["value"]["lines"] for f in page.steps[-1]["fields"]}
    assert shown == {n: describe(p.data, 16)["lines"] for n, p in model.named_parameters()}

# ------------------------------------------------------------------ installed packages

@pytest.fixture
def installed(tmp_path):
    """A 'site-packages' directory with a package that registers Lion in the stepgrad.optimizers group."""
    site = tmp_path / "site"
    info = site / "lion_optimizer-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lion-optimizer\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[stepgrad.optimizers]\nlion = lion_optimizer:Lion\n"
                                           "adam = lion_optimizer:Lion\nbroken = lion_optimizer:missing\n")
    (site / "lion_optimizer.py").write_text(LION)
    return site


def test_an_installed_package_adds_an_optimizer_by_name(stepgrad, installed, tmp_path):
    listing = stepgrad("optimizers", extra=(installed,))
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if line.strip()}
    assert "lion_optimizer:Lion" in rows["lion"] and "installed: lion-optimizer 0.1" in rows["lion"]
    assert "gradients" in rows["lion"] and "a closure" in rows["newton"]
    assert "optim.adam.Adam" in rows["adam"]  # a built-in name is not taken over
    assert "unusable" in rows["broken"]
    assert "module:Class" in listing.stdout
    fit = stepgrad("linreg", "--optimizer", "lion", "--lr", "0.01", "--steps", "600", extra=(installed,))
    assert fit.returncode == 0, fit.stderr
    assert final_thetas(fit.stdout, "lion (600 steps)") == pytest.approx(least_squares(*make_data(100, 0)), abs=0.03)


def test_an_installed_optimizer_that_cannot_load_is_one_line(stepgrad, installed):
    assert_one_line_error(stepgrad("linreg", "--optimizer", "broken", extra=(installed,)),
                          "optimizer 'broken' from an installed package (lion_optimizer:missing) cannot be loaded")


# ------------------------------------------------------------------ the conformance kit

def test_the_kit_passes_on_an_optimizer_from_outside(user_dir):
    lion = optim.get_optimizer(f"{user_dir / 'lion.py'}:Lion")
    assert check_optimizer(lion, lr=0.01) == {name: "passed" for name in optim.testing.CHECKS}


@pytest.mark.parametrize("broken, check", [("ForgetfulLion", "state_dict"), ("StubbornLion", "param_groups")])
def test_the_kit_names_the_check_a_broken_optimizer_fails(user_dir, broken, check):
    cls = optim.get_optimizer(f"{user_dir / 'lion.py'}:{broken}")
    with pytest.raises(ConformanceError) as info:
        check_optimizer(cls, lr=0.01)
    failures = str(info.value).splitlines()[1:]
    assert [line.split(":")[0] for line in failures] == [check], str(info.value)


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0, the point of the test
def test_the_kit_catches_a_zero_grad_that_multiplies_by_zero():
    class TimesZero(optim.SGD):
        def zero_grad(self, set_to_none=True):
            """Clears by multiplying, which leaves NaN and inf behind."""
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None and set_to_none:
                        p.grad = None
                    elif p.grad is not None:
                        p.grad.data *= 0

    with pytest.raises(ConformanceError, match=r"zero_grad: zero_grad\(set_to_none=False\) left \[nan"):
        optim.testing.check_zero_grad(TimesZero, lr=0.1)
