"""Exercise 2: add an op with two inputs (hypot), and let the engine undo broadcasting.

The learner's file defines ``class Hypot(Op)``, forward and backward, for
hypot(a, b) = √(a² + b²). Its backward returns one gradient per input (None for an
input that does not require grad) in the broadcast shape of the output: the engine
sums each back to its input's shape.
"""
import numpy as np

from engine import GradcheckError, Tensor, grad, gradcheck
from engine.ops import Op
from models.exercises.solution import NotYet, attribute, derivative, fmt, run

TITLE = "an op with two inputs (hypot)"
A = np.array([3.0, -1.0, 0.5, 2.0, -4.0])
B = np.array([4.0, 2.0, -0.25, -3.0, 0.1])
EPS = 1e-6


def check(solution):
    """Forward, each input's derivative, broadcasting, an input without grad, and the second order."""
    Hypot = attribute(solution, "Hypot", Op, "class Hypot(Op) (see the starting code of exercise 2)")
    a, b = Tensor(A.copy(), requires_grad=True), Tensor(B.copy(), requires_grad=True)
    out = run(solution, "Hypot.forward", lambda: Hypot.apply(a, b))
    if out.shape != A.shape or not np.allclose(out.data, np.hypot(A, B), rtol=1e-12):
        raise NotYet(f"Hypot.forward of a = {fmt(A)}, b = {fmt(B)} gives {fmt(out.data)}, not "
                     f"sqrt(a^2 + b^2) = {fmt(np.hypot(A, B))}")
    da, db = run(solution, "Hypot.backward", lambda: grad(out.sum(), [a, b]))
    for name, mine, numeric in (("a", da.data, (np.hypot(A + EPS, B) - np.hypot(A - EPS, B)) / (2 * EPS)),
                                ("b", db.data, (np.hypot(A, B + EPS) - np.hypot(A, B - EPS)) / (2 * EPS))):
        for i in range(len(A)):
            if not abs(mine[i] - numeric[i]) <= 1e-6 + 1e-4 * abs(numeric[i]):
                raise NotYet(f"d hypot/d{name} at a = {fmt(A[i])}, b = {fmt(B[i])}: your backward gives "
                             f"{fmt(mine[i])}, central differences give {fmt(numeric[i])}")
    passed = ["forward, and d/da and d/db at five points, match"]

    rows = Tensor(A[:3].reshape(3, 1).copy(), requires_grad=True)  # (3, 1)
    cols = Tensor(B[:4].copy(), requires_grad=True)  # (4,): broadcast to (3, 4)
    try:
        run(solution, "Hypot on shapes (3, 1) and (4,)", lambda: gradcheck(Hypot.apply, [rows, cols]))
    except GradcheckError as error:
        raise NotYet(f"with broadcasting, shapes (3, 1) and (4,): {error}") from None
    passed.append("broadcasting (3, 1) with (4,): each gradient summed back to its input's shape")

    constant = Tensor(B.copy())  # requires no grad
    (only,) = run(solution, "Hypot.backward with b a constant",
                  lambda: grad(Hypot.apply(a, constant).sum(), [a]))
    if not np.allclose(only.data, da.data):
        raise NotYet("with b a constant (requires_grad=False), d hypot/da changed: return None for b, "
                     "and the same gradient for a")
    passed.append("an input without grad gets none")

    s, t = Tensor(A.copy(), requires_grad=True), Tensor(B.copy(), requires_grad=True)
    first = run(solution, "Hypot.backward with create_graph=True", lambda: derivative(Hypot.apply, s, t))
    if not first.requires_grad:
        raise NotYet("the gradients are right, but they have no graph: backward used numpy arrays (.data); "
                     "write it with Tensor operations (g * a / out) so create_graph=True can differentiate it")
    try:
        run(solution, "the second derivative",
            lambda: gradcheck(lambda u, v: derivative(Hypot.apply, u, v), [s, t]))
    except GradcheckError as error:
        raise NotYet(f"the second derivative is wrong ({error})") from None
    passed.append("create_graph=True: second derivatives match too")
    return passed
