"""Exercise 5: make the loss go down on a new data set (two moons).

``two_moons`` draws two interleaved half circles of 2-d points, labelled 0 and 1:
no straight line separates them. The learner's file defines ``train(x, y)`` that
fits any model with the engine and returns ``(predict, losses)``: ``predict(x)``
gives a label (or one score per class) for each row of x, ``losses`` the training
loss after each step. The check trains on one draw and scores fresh points.
"""
import time

import numpy as np

from engine import Tensor
from models.exercises.solution import NotYet, attribute, run

TITLE = "make the loss go down on a new data set (two moons)"
N_TRAIN, N_TEST = 200, 1000
NOISE = 0.1
ACCURACY = 0.95  # on fresh points; a straight line gets about 0.86
SECONDS = 120.0


def two_moons(n=N_TRAIN, noise=NOISE, seed=0):
    """``n`` points on two interleaved half circles with Gaussian noise: x (n, 2) float32, y (n,) int64 in {0, 1}."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2  # (n,) alternating labels: half the points on each moon
    angle = rng.uniform(0.0, np.pi, n)  # (n,)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (n, 2)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)  # (n, 2)
    x = np.where(y[:, None] == 0, upper, lower) + rng.normal(0.0, noise, (n, 2))  # (n, 2)
    return x.astype(np.float32), y.astype(np.int64)


def labels(predicted, n):
    """The learner's predictions as (n,) labels: from labels, or from one score per class."""
    a = predicted.numpy() if isinstance(predicted, Tensor) else np.asarray(predicted)
    if a.shape == (n, 2):
        return a.argmax(axis=1)
    if a.shape == (n,):
        return (a > 0.5).astype(np.int64) if a.dtype.kind == "f" else a
    raise NotYet(f"predict(x) for {n} points returned shape {a.shape}: give (n,) labels or (n, 2) class scores")


def check(solution):
    """``train`` on 200 points: the loss goes down, and 95% of 1000 fresh points are labelled right."""
    train = attribute(solution, "train", None, "function train(x, y) (see the starting code of exercise 5)")
    x, y = two_moons(seed=0)
    started = time.perf_counter()
    result = run(solution, "train(x, y)", lambda: train(x, y))
    seconds = time.perf_counter() - started
    if not (isinstance(result, tuple) and len(result) == 2 and callable(result[0])):
        raise NotYet("train(x, y) should return (predict, losses): a function and the list of losses")
    predict, losses = result
    try:
        losses = [float(v.item() if isinstance(v, Tensor) else v) for v in losses]
    except (TypeError, ValueError):
        raise NotYet("losses should be a list of numbers (loss.item() after each step)") from None
    if len(losses) < 2 or not np.all(np.isfinite(losses)):
        raise NotYet(f"losses should hold a finite number per training step; got {losses[:5]}")
    if not losses[-1] < 0.5 * losses[0]:
        raise NotYet(f"the loss went from {losses[0]:.4g} to {losses[-1]:.4g}: it has to fall to less than half; "
                     "a larger learning rate, or more steps?")
    passed = [f"the loss went down from {losses[0]:.4g} to {losses[-1]:.4g} in {len(losses)} steps "
              f"({seconds:.1f} s)"]
    if seconds > SECONDS:
        raise NotYet(f"train(x, y) took {seconds:.0f} s; keep it under {SECONDS:.0f} s (fewer steps, a smaller model)")
    fresh_x, fresh_y = two_moons(N_TEST, seed=1)
    right = float(np.mean(labels(run(solution, "predict(x)", lambda: predict(fresh_x)), N_TEST) == fresh_y))
    if right < ACCURACY:
        raise NotYet(f"on {N_TEST} fresh points {right:.1%} are labelled right; {ACCURACY:.0%} needed: a straight "
                     "line cannot separate the moons, so does your model have a hidden layer and a nonlinearity, "
                     "and has it trained long enough?")
    passed.append(f"{right:.1%} of {N_TEST} fresh points labelled right (at least {ACCURACY:.0%} needed)")
    return passed
