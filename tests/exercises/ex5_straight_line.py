"""Exercise 5, broken: logistic regression, a straight line, cannot separate the moons."""
import numpy as np

import optim
from engine import Tensor, manual_seed, nn, no_grad
from engine import functional as F


def train(x, y):
    manual_seed(0)
    model = nn.Linear(2, 2)
    opt = optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for step in range(300):
        loss = F.cross_entropy(model(Tensor(x)), np.asarray(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())

    def predict(points):
        with no_grad():
            return model(Tensor(points)).numpy()

    return predict, losses
