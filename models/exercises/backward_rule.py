"""Exercise 1: derive and implement a backward rule (softplus).

The learner's file defines ``class Softplus(Op)`` whose forward is given,
softplus(x) = log(1 + eˣ), and writes its ``backward``: the upstream gradient times
d softplus/dx, derived by hand (it is the sigmoid), with Tensor operations so that
``create_graph=True`` can differentiate it again.
"""
import numpy as np

from engine import GradcheckError, Tensor, grad, gradcheck
from engine.ops import Op
from models.exercises.solution import NotYet, attribute, derivative, fmt, run

TITLE = "a backward rule (softplus)"
POINTS = np.array([1.0, -1.0, 0.3, -0.3, 0.0, 4.0, -4.0, 30.0, -30.0])  # where the slope is checked
EPS = 1e-6


def softplus(x):
    """log(1 + eˣ) without overflow, in numpy."""
    return np.logaddexp(0.0, x)


def check(solution):
    """Forward unchanged, the first derivative at ``POINTS``, the second (create_graph), float32 at x = ±100."""
    Softplus = attribute(solution, "Softplus", Op, "class Softplus(Op) (copy the starting code of exercise 1)")
    x = Tensor(POINTS.copy(), requires_grad=True)  # float64
    y = run(solution, "Softplus.forward", lambda: Softplus.apply(x))
    if not np.allclose(y.data, softplus(POINTS), rtol=1e-12, atol=1e-12):
        raise NotYet("Softplus.forward no longer computes log(1 + e^x): keep the given forward")
    (slope,) = run(solution, "Softplus.backward", lambda: grad(y.sum(), x))
    numeric = (softplus(POINTS + EPS) - softplus(POINTS - EPS)) / (2 * EPS)
    for x0, mine, right in zip(POINTS, slope.data, numeric):
        if not abs(mine - right) <= 1e-6 + 1e-4 * abs(right):
            raise NotYet(f"at x = {fmt(x0)} your backward gives {fmt(mine)}, but softplus's slope there is "
                         f"{fmt(right)} (central differences): derive d/dx log(1 + e^x) again")
    passed = [f"forward unchanged; the slope matches central differences at x = {fmt(POINTS)}"]

    first = run(solution, "Softplus.backward with create_graph=True", lambda: derivative(Softplus.apply, x))
    if not first.requires_grad:
        raise NotYet("the first derivative is right, but its graph is missing: backward used numpy arrays "
                     "(.data, np.exp): write it with Tensor operations (x.sigmoid(), x.exp(), ...) so that "
                     "create_graph=True can differentiate it again")
    try:
        run(solution, "the second derivative",
            lambda: gradcheck(lambda t: derivative(Softplus.apply, t), [x]))
    except GradcheckError as error:
        raise NotYet(f"the second derivative is wrong ({error}): is the backward's own formula differentiable "
                     "Tensor operations of x?") from None
    passed.append("create_graph=True: the second derivative matches central differences too")

    big = Tensor(np.array([-100.0, 100.0], dtype=np.float32), requires_grad=True)
    (edge,) = run(solution, "Softplus.backward in float32", lambda: grad(Softplus.apply(big).sum(), big))
    if not np.allclose(edge.data, [0.0, 1.0], atol=1e-6):
        raise NotYet(f"in float32 at x = -100 and 100 your backward gives {fmt(edge.data)}, not [0, 1]: "
                     "e^100 overflows float32 (inf / inf = nan); the sigmoid form 1 / (1 + e^-x), "
                     "x.sigmoid(), does not")
    passed.append("float32 at x = ±100: no overflow")
    return passed
