"""The exercises of docs/exercises.md and the checks ``stepgrad exercise N FILE`` runs on a learner's file.

Each exercise is a module with ``TITLE`` and ``check(solution)``: ``solution`` is the
learner's file loaded as a module; ``check`` returns the lines saying what passed, or
raises ``NotYet`` with one line saying what is wrong and where to look.

    1  backward_rule   derive and implement a backward rule (softplus)
    2  new_op          add an op with two inputs and broadcasting (hypot)
    3  new_optimizer   add an optimizer (Adamax, torch.optim's rule)
    4  bug_hunt        find a wrong backward rule with gradcheck and the explorer
    5  new_data        make the loss go down on a new data set (two moons)
"""
import numpy as np

from models.exercises import backward_rule, bug_hunt, new_data, new_op, new_optimizer
from models.exercises.solution import NotYet, load_solution

#: number -> the exercise's module (TITLE, check)
EXERCISES = {1: backward_rule, 2: new_op, 3: new_optimizer, 4: bug_hunt, 5: new_data}

__all__ = ["EXERCISES", "NotYet", "load_solution", "run_check"]


def run_check(number, path):
    """Load the learner's file at ``path`` and run exercise ``number``'s check on it.

    Returns the lines saying what passed; raises ``NotYet`` (one line) when something
    is missing or wrong, and ``OSError`` when the file cannot be read.
    """
    solution = load_solution(path)
    with np.errstate(all="ignore"):  # an overflow in the learner's code is reported by the check, not by numpy
        return EXERCISES[number].check(solution)
