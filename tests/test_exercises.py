"""The exercises' checks (docs/exercises.md, ``stepgrad exercise N FILE``): each passes a
reference solution and fails typical wrong ones with a message that says what is wrong.

The solutions are in tests/exercises/; the starting files of the page are checked by
tests/test_docs.py, which runs the page's commands and compares their output.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.exercises import EXERCISES, NotYet, run_check

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "tests" / "exercises"

SOLUTIONS = {1: "ex1_solution.py", 2: "ex2_solution.py", 3: "ex3_solution.py", 4: "ex4_solution.py",
             5: "ex5_solution.py"}

BROKEN = [
    (1, "ex1_wrong_derivative.py", "at x = 1 your backward gives 0.268941, but softplus's slope there is 0.731059"),
    (1, "ex1_numpy_backward.py", "backward used numpy arrays"),
    (1, "ex1_overflow.py", "in float32 at x = -100 and 100 your backward gives [3.78351e-44, nan], not [0, 1]"),
    (2, "ex2_swapped.py", "d hypot/da at a = 3, b = 4: your backward gives 0.8, central differences give 0.6"),
    (3, "ex3_no_bias_correction.py", "with {'lr': 0.1}, after step 1 parameter 0[1, 0] is 0.59; Adamax's rule "
                                     "gives 0.5"),
    (4, "ex4_wrong_op.py", "bumpy with your Gauss still fails gradcheck"),
    (5, "ex5_straight_line.py", "on 1000 fresh points 88.6% are labelled right; 95% needed"),
]


def test_every_exercise_has_a_solution_and_a_broken_file():
    assert set(SOLUTIONS) == set(EXERCISES) == {number for number, _, _ in BROKEN}


@pytest.mark.parametrize("number", sorted(SOLUTIONS))
def test_the_check_passes_a_reference_solution(number):
    passed = run_check(number, FILES / SOLUTIONS[number])
    assert passed and all(isinstance(line, str) and line for line in passed)


@pytest.mark.parametrize("number, name, problem", BROKEN, ids=[name for _, name, _ in BROKEN])
def test_the_check_fails_a_wrong_solution_saying_what_is_wrong(number, name, problem):
    with pytest.raises(NotYet) as verdict:
        run_check(number, FILES / name)
    assert problem in str(verdict.value) and "\n" not in str(verdict.value)


def test_a_solution_to_another_exercise_is_told_what_is_missing():
    with pytest.raises(NotYet, match="your file has no class Hypot"):
        run_check(2, FILES / SOLUTIONS[1])


def test_an_error_in_the_learners_file_names_the_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\nclass Softplus(\n", encoding="utf-8")
    with pytest.raises(NotYet, match=r"broken.py does not run: SyntaxError: .*\(broken.py line 3\)"):
        run_check(1, broken)
    crashing = tmp_path / "crashing.py"
    crashing.write_text((FILES / "ex1_solution.py").read_text().replace(
        "return g * ctx.parents[0].sigmoid()", "return g * ctx.parents[0].sigmoid() + undefined_name"))
    with pytest.raises(NotYet, match=r"Softplus.backward: NameError: .*'undefined_name'.*\(crashing.py line \d+\)"):
        run_check(1, crashing)


@pytest.fixture
def stepgrad(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "models", *map(str, args)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    return run


def test_stepgrad_exercise_says_pass_or_not_yet_with_the_exit_status(stepgrad):
    good = stepgrad("exercise", "2", FILES / SOLUTIONS[2])
    assert good.returncode == 0, good.stderr
    lines = good.stdout.splitlines()
    assert lines[0] == "exercise 2, an op with two inputs (hypot): pass" and len(lines) == 5
    assert all(line.startswith("  - ") for line in lines[1:])
    bad = stepgrad("exercise", "2", FILES / "ex2_swapped.py")
    assert bad.returncode == 1 and bad.stderr == ""
    assert bad.stdout.startswith("exercise 2, an op with two inputs (hypot): not yet: d hypot/da at a = 3")
    missing = stepgrad("exercise", "1", "nowhere.py")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "stepgrad: error: No such file or directory: nowhere.py"
    unknown = stepgrad("exercise", "6", "x.py")
    assert unknown.returncode == 2 and "argument N: invalid choice: 6" in unknown.stderr
