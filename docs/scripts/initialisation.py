"""Figure for chapter 3a: activations and gradients through a deep network, four inits.

A 10-layer MLP (width 256, no normalisation) on a batch of 512 standard-normal inputs;
the loss is ``Σ output ⊙ G`` with a standard-normal ``G``, so ``backward(G)`` sends a
gradient of unit size into the top. For each initialisation of the weights (biases 0)
the figure shows the histograms of the activations (left) and of the gradients with
respect to them (right) after layers 2, 6 and 10, all from refnet's forward and
backward. Run: ``python docs/scripts/initialisation.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _common import parse_args, save

import refnet.nn as nn
from refnet.nn import init

DEPTH, WIDTH, BATCH = 10, 256, 512
SHOWN = (2, 6, 10)

# label -> (activation, how each weight matrix is initialised)
INITS: dict[str, tuple[type[nn.Module], Callable[[nn.Parameter, int], object]]] = {
    "tanh, N(0, 0.01²): too small": (nn.Tanh, lambda w, s: init.normal_(w, 0.0, 0.01, generator=s)),
    "tanh, N(0, 1): too large": (nn.Tanh, lambda w, s: init.normal_(w, 0.0, 1.0, generator=s)),
    "tanh, Xavier": (nn.Tanh, lambda w, s: init.xavier_normal_(w, generator=s)),
    "ReLU, Kaiming (fan_in)": (
        nn.ReLU,
        lambda w, s: init.kaiming_normal_(w, nonlinearity="relu", generator=s),
    ),
}


def deep_network(activation: type[nn.Module], initialise: Callable[..., object]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k in range(DEPTH):
        linear = nn.Linear(WIDTH, WIDTH).double()
        initialise(linear.weight, 100 + k)  # not the inputs' seed 0: independent streams
        init.zeros_(linear.bias)
        layers += [linear, activation()]
    return nn.Sequential(*layers)


def activations_and_gradients(
    network: nn.Sequential, batch: int
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Layer k (1-based) -> its activation, and ∂L/∂(that activation)."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((batch, WIDTH))
    outputs = {}
    for k in range(DEPTH):
        h = network[2 * k + 1](network[2 * k](h))
        outputs[k + 1] = h
    g = rng.standard_normal(h.shape)
    grads = {DEPTH: g}
    for k in reversed(range(DEPTH)):
        g = network[2 * k].backward(network[2 * k + 1].backward(g))
        if k:
            grads[k] = g  # ∂L/∂(activation of layer k)
    return outputs, grads


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    batch = 64 if args.quick else BATCH
    fig, axes = plt.subplots(len(INITS), 2, figsize=(12, 2.6 * len(INITS)))
    for row, (label, (activation, initialise)) in zip(axes, INITS.items(), strict=True):
        outputs, grads = activations_and_gradients(deep_network(activation, initialise), batch)
        for ax, values, what in ((row[0], outputs, "activation"), (row[1], grads, "gradient")):
            for k in SHOWN:
                v = values[k].ravel()
                ax.hist(v, bins=60, histtype="step", lw=1.3, label=f"layer {k}: std {v.std():.2g}")
            ax.set_yscale("log")
            ax.set_title(f"{label}: {what}s", fontsize=10)
            ax.legend(fontsize=8)
    fig.suptitle("10 layers of width 256, no normalisation: histograms after layers 2, 6, 10")
    fig.tight_layout()
    save(fig, args.out_dir, "initialisation.png", args.quick)


if __name__ == "__main__":
    main()
