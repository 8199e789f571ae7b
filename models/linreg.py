"""Linear regression, the seed example: fit y = theta0 + theta1 * x by gradient descent.

`make_data` draws the example's points (x ~ U(0, 1), y = 2x + 1 + U(0, 1) noise, so the
best line is near y = 2x + 1.5) and `least_squares` gives the exact answer to compare
the trained thetas with.  The loss is quadratic in the thetas, so its Hessian is the same
everywhere (`mse_hessian`), and plain gradient descent converges exactly when the
learning rate is below 2 / its largest eigenvalue.
"""
import numpy as np

from engine import Tensor, nn


class LinearRegression(nn.Module):
    """y = theta0 + theta1 * x with scalar float32 parameters `theta0`, `theta1`, both 0 at first."""

    def __init__(self):
        super().__init__()
        self.theta0 = nn.Parameter(np.zeros((), dtype=np.float32))
        self.theta1 = nn.Parameter(np.zeros((), dtype=np.float32))

    def forward(self, x):
        """Predictions theta0 + theta1 * x, elementwise over x (any shape)."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=self.theta1.dtype))
        return self.theta0 + self.theta1 * x


def make_data(n=100, seed=0):
    """The seed example's data: x ~ U(0, 1) and y = 2x + 1 + U(0, 1), float32 arrays of shape (n,)."""
    rng = np.random.default_rng(seed)
    x = rng.random(n, dtype=np.float32)
    y = 2.0 * x + 1.0 + rng.random(n, dtype=np.float32)
    return x, y


def least_squares(x, y):
    """The exact least-squares fit (theta0, theta1) of y ≈ theta0 + theta1 * x, as Python floats."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    design = np.stack([np.ones_like(x), x], axis=1)                   # (n, 2)
    (theta0, theta1), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(theta0), float(theta1)


def mse_hessian(x):
    """The Hessian of the mean squared error in (theta0, theta1): 2 * [[1, mean x], [mean x, mean x²]], (2, 2).

    It depends on neither y nor the thetas: the loss is a quadratic in the thetas.  Plain
    gradient descent converges exactly for learning rates below 2 / its largest eigenvalue.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return 2.0 * np.array([[1.0, x.mean()], [x.mean(), (x * x).mean()]])  # (2, 2)

