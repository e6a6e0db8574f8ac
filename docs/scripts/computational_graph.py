"""Figure for chapter 2a: chapter 2's two-layer network as a graph, values and gradients.

Each node is one array of the computation (the input, the parameters, the intermediate
results, the loss). Its forward value is written in black and its gradient ∂L/∂node in
red; both come from refnet (the layers' forward, then their backward one at a time), not
from the figure. Run: ``python docs/scripts/computational_graph.py``.
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, save

import refnet.nn as nn
from refnet._typing import Array


def two_layer_network() -> nn.Sequential:
    """Chapter 2's network: Linear(2, 2), ReLU, Linear(2, 1) with its hand-picked weights."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    model[0].weight.data[...] = [[0.5, -1.0], [1.0, 0.5]]
    model[0].bias.data[...] = [0.0, 0.5]
    model[2].weight.data[...] = [[2.0, 1.0]]
    model[2].bias.data[...] = [0.5]
    return model


def values_and_gradients() -> dict[str, tuple[Array, Array]]:
    """``name -> (value, ∂L/∂value)`` for every node of the graph."""
    model, criterion = two_layer_network(), nn.MSELoss()
    x, t = np.array([[1.0, 2.0]]), np.array([[2.0]])
    h = model[0](x)
    a = model[1](h)
    y = model[2](a)
    loss = np.array(criterion(y, t))
    grad_y = criterion.backward()
    grad_a = model[2].backward(grad_y)
    grad_h = model[1].backward(grad_a)
    grad_x = model[0].backward(grad_h)
    first, second = model[0], model[2]
    return {
        "x": (x, grad_x),
        "W1": (first.weight.data, first.weight.grad),
        "b1": (first.bias.data, first.bias.grad),
        "h = x W1ᵀ + b1": (h, grad_h),
        "a = ReLU(h)": (a, grad_a),
        "W2": (second.weight.data, second.weight.grad),
        "b2": (second.bias.data, second.bias.grad),
        "y = a W2ᵀ + b2": (y, grad_y),
        "L = (y - t)²": (loss, np.array(1.0)),
    }


# Where each node is drawn, and the edges (from, to) of the forward computation.
POSITIONS = {
    "x": (0.0, 2.0),
    "W1": (0.0, 1.0),
    "b1": (0.0, 0.0),
    "h = x W1ᵀ + b1": (1.5, 1.0),
    "a = ReLU(h)": (3.0, 1.0),
    "W2": (3.0, 2.3),
    "b2": (3.0, -0.3),
    "y = a W2ᵀ + b2": (4.5, 1.0),
    "L = (y - t)²": (6.0, 1.0),
}
EDGES = [
    ("x", "h = x W1ᵀ + b1"),
    ("W1", "h = x W1ᵀ + b1"),
    ("b1", "h = x W1ᵀ + b1"),
    ("h = x W1ᵀ + b1", "a = ReLU(h)"),
    ("a = ReLU(h)", "y = a W2ᵀ + b2"),
    ("W2", "y = a W2ᵀ + b2"),
    ("b2", "y = a W2ᵀ + b2"),
    ("y = a W2ᵀ + b2", "L = (y - t)²"),
]


def show(array: Array) -> str:
    return np.array2string(np.asarray(array), separator=", ", formatter={"float": "{:g}".format})


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    nodes = values_and_gradients()
    fig, ax = plt.subplots(figsize=(13, 5.2))
    for start, end in EDGES:
        (x0, y0), (x1, y1) = POSITIONS[start], POSITIONS[end]
        ax.annotate(
            "",
            xy=(x1 - 0.45, y1),
            xytext=(x0 + 0.45, y0),
            arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 1.2},
        )
    for name, (value, grad) in nodes.items():
        cx, cy = POSITIONS[name]
        ax.text(
            cx,
            cy + 0.12,
            f"{name}\n{show(value)}",
            ha="center",
            va="bottom",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.3"},
        )
        ax.text(cx, cy - 0.05, f"∂L/∂: {show(grad)}", ha="center", va="top", fontsize=9, color="C3")
    ax.text(0.0, -1.0, "forward: values (black), left to right", fontsize=10)
    ax.text(3.3, -1.0, "backward: gradients (red), right to left", fontsize=10, color="C3")
    ax.set_xlim(-0.9, 6.9)
    ax.set_ylim(-1.2, 3.2)
    ax.axis("off")
    ax.set_title("Chapter 2's network as a graph: x = (1, 2), t = 2")
    save(fig, args.out_dir, "computational_graph.png", args.quick)


if __name__ == "__main__":
    main()
