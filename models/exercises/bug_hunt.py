"""Exercise 4: find a wrong backward rule with gradcheck and the explorer, and fix it.

``bumpy(x, w)`` is built from three small ops of this module. One of them has a
backward rule that is wrong (its derivative was derived carelessly, and its
derivative text repeats the mistake): ``gradcheck(bumpy, [x, w])`` fails. The
learner finds which op with ``gradcheck`` on each op alone and with the explorer
page of the backward pass, then writes the corrected class, under the same name,
in their file.
"""
import numpy as np

from engine import GradcheckError, Tensor, gradcheck
from engine.ops import Op
from models.exercises.solution import NotYet, derivative, run

TITLE = "find the wrong backward rule"


class Softsign(Op):
    """x / (1 + |x|): a smooth step from -1 to 1."""
    name = "softsign"
    derivatives = ("d softsign({x})/d{x} = 1/(1 + |{x}|)",)

    def forward(ctx, x):
        return x / (1.0 + np.abs(x))

    def backward(ctx, g, out):
        x = ctx.parents[0]
        return g / (1.0 + x.abs())


class Gauss(Op):
    """exp(-x²): a bump at 0."""
    name = "gauss"
    uses_output = True
    derivatives = ("d gauss({x})/d{x} = -2·{x}·gauss({x})",)

    def forward(ctx, x):
        return np.exp(-x * x)

    def backward(ctx, g, out):
        return g * -2.0 * ctx.parents[0] * out


class Cube(Op):
    """x³."""
    name = "cube"
    derivatives = ("d({x}³)/d{x} = 3·{x}²",)

    def forward(ctx, x):
        return x * x * x

    def backward(ctx, g, out):
        x = ctx.parents[0]
        return g * 3.0 * x * x


OPS = {"softsign": Softsign, "gauss": Gauss, "cube": Cube}


def bumpy(x, w, ops=OPS):
    """cube(softsign(x * w)) summed over each row, plus gauss(w) summed: x (n, d), w (d,) -> (n,)."""
    h = ops["softsign"].apply(x * w)  # (n, d)
    return ops["cube"].apply(h).sum(axis=1) + ops["gauss"].apply(w).sum()  # (n,)


def example_inputs():
    """The x (2, 3) and w (3,) of the exercise, float64, both requiring grad."""
    rng = np.random.default_rng(4)
    return (Tensor(rng.normal(size=(2, 3)).round(2), requires_grad=True, name="x"),
            Tensor(rng.normal(size=3).round(2), requires_grad=True, name="w"))


def check(solution):
    """The learner's corrected op(s), swapped into ``bumpy``: each alone and the whole pass gradcheck."""
    mine = {name: getattr(solution, op.__name__, None) for name, op in OPS.items()}
    fixed = {name: op for name, op in mine.items() if isinstance(op, type) and issubclass(op, Op)}
    if not fixed:
        raise NotYet(f"your file defines none of {', '.join(op.__name__ for op in OPS.values())}: define the op you "
                     "fixed, under the same class name, with its corrected backward")
    passed = []
    for name, op in fixed.items():
        x = Tensor(np.linspace(-2.5, 2.5, 11), requires_grad=True)
        out = run(solution, f"{op.__name__}.forward", lambda: op.apply(x))
        if not np.allclose(out.data, OPS[name].forward(None, x.data.copy()), rtol=1e-12):
            raise NotYet(f"your {op.__name__}.forward computes something else than the original: fix only backward")
        try:
            run(solution, f"{op.__name__}.backward", lambda: gradcheck(op.apply, [x]))
        except GradcheckError as error:
            raise NotYet(f"your {op.__name__} still fails gradcheck on its own ({error}): derive its derivative "
                         "again, step by step") from None
        first = run(solution, f"{op.__name__}.backward with create_graph=True", lambda: derivative(op.apply, x))
        if not first.requires_grad:
            raise NotYet(f"your {op.__name__}.backward used numpy arrays: write it with Tensor operations")
        passed.append(f"your {op.__name__} passes gradcheck on its own")
    x, w = example_inputs()
    try:
        run(solution, "bumpy with your ops", lambda: gradcheck(lambda a, b: bumpy(a, b, {**OPS, **fixed}), [x, w]))
    except GradcheckError as error:
        raise NotYet(f"bumpy with your {', '.join(op.__name__ for op in fixed.values())} still fails gradcheck "
                     f"({error}): another op's backward is wrong; gradcheck each op alone, and step through "
                     "the backward pass in the explorer") from None
    passed.append("bumpy(x, w) with your fix passes gradcheck: every gradient matches central differences")
    return passed
