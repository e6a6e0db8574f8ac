"""The first lesson: fit ``y = 2x + 1`` with one ``Linear(1, 1)``, MSE and SGD.

The classic walk-through: 100 noisy points, full-batch gradient descent with learning
rate 0.01. Every training step is the loop of every refnet program::

    optimizer.zero_grad()                    # gradients accumulate: clear them
    prediction = model(x)                    # forward
    loss = criterion(prediction, y)          # a float
    model.backward(criterion.backward())     # the chain rule, by hand
    optimizer.step()                         # w <- w - lr * dL/dw

Run it with ``python -m refnet.examples.linear_regression``.

>>> weight, bias, loss = fit(epochs=1000, seed=0)
>>> round(weight, 1), round(bias, 1)
(2.0, 1.0)
"""

from __future__ import annotations

import argparse

import numpy as np

import refnet.nn as nn
import refnet.optim as optim
from refnet._typing import Array


def make_data(n: int = 100, seed: int = 0) -> tuple[Array, Array]:
    """``n`` points with x uniform in [0, 2] and y = 2x + 1 + N(0, 0.1²) noise, float32."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2.0, size=(n, 1)).astype(np.float32)
    y = (2.0 * x + 1.0 + rng.normal(0.0, 0.1, size=(n, 1))).astype(np.float32)
    return x, y


def fit(
    epochs: int = 1000, lr: float = 0.01, seed: int = 0, verbose: bool = False
) -> tuple[float, float, float]:
    """Train and return ``(weight, bias, final loss)``."""
    x, y = make_data(seed=seed)
    model = nn.Linear(1, 1, generator=seed)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loss = float("nan")
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        model.backward(criterion.backward())
        optimizer.step()
        if verbose and (epoch + 1) % (epochs // 10 or 1) == 0:
            print(f"epoch {epoch + 1:5d}  loss {loss:.5f}")
    assert model.bias is not None
    return float(model.weight.data[0, 0]), float(model.bias.data[0]), loss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    weight, bias, loss = fit(args.epochs, args.lr, args.seed, verbose=True)
    print(f"learned y = {weight:.3f} x + {bias:.3f}   (true: y = 2x + 1), final MSE {loss:.5f}")


if __name__ == "__main__":
    main()
