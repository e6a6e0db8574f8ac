"""Figure for the recurrent chapter: how far back a gradient reaches through time.

A loss on the last output only, ``L = g · y_T``, backpropagated through time by refnet's
own layers; the curve is ‖∂L/∂x_t‖ (the gradient reaching the input at step t) against
the distance T - t, averaged over a batch, for an Elman RNN (tanh, PyTorch's init), a
ReLU RNN whose recurrent matrix has spectral radius 2 (exploding: ReLU passes
about half the units, and the rest still grow), an LSTM (PyTorch's
init) and an LSTM whose forget-gate biases start at +2 (its cell state kept ≈ e^{-0.13}
per step). Random inputs; no training: the shapes of the curves are the point.

Run: ``python docs/scripts/rnn_gradients.py`` (a few seconds).
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, save

import refnet.nn as nn
from refnet._typing import Array

HIDDEN = 32
BATCH = 16


def gradient_reach(model: nn.Module, length: int, seed: int = 0) -> Array:
    """‖∂L/∂x_t‖ for t = 0..T-1 (mean over the batch), L = g · (last output)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((length, BATCH, HIDDEN))
    out, _ = model(x)
    grad = np.zeros_like(out)
    grad[-1] = rng.standard_normal(grad[-1].shape)
    grad_x = model.backward(grad)
    return np.asarray(np.linalg.norm(grad_x, axis=2).mean(axis=1))


def models(seed: int = 0) -> dict[str, nn.Module]:
    rnn = nn.RNN(HIDDEN, HIDDEN, generator=seed).double()
    exploding = nn.RNN(HIDDEN, HIDDEN, nonlinearity="relu", generator=seed).double()
    w = exploding.weight_hh_l0.data
    w *= 2.0 / max(abs(np.linalg.eigvals(w)))  # spectral radius 2 (ReLU passes about half)
    lstm = nn.LSTM(HIDDEN, HIDDEN, generator=seed).double()
    lstm_forget = nn.LSTM(HIDDEN, HIDDEN, generator=seed).double()
    for b in (lstm_forget.bias_ih_l0, lstm_forget.bias_hh_l0):
        b.data[HIDDEN : 2 * HIDDEN] = 1.0  # the f slice of i, f, g, o: 1 + 1 = +2
    return {
        "RNN (tanh)": rnn,
        "RNN (ReLU, W_hh of spectral radius 2)": exploding,
        "LSTM": lstm,
        "LSTM, forget bias +2": lstm_forget,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    length = 30 if args.quick else 200
    figure, ax = plt.subplots(figsize=(7, 4))
    with np.errstate(over="ignore"):
        for name, model in models().items():
            reach = gradient_reach(model, length)
            distance = np.arange(length)[::-1]  # T - 1 - t: steps back from the loss
            ax.semilogy(distance, np.maximum(reach, 1e-300), label=name)
    ax.set_xlabel("steps back from the loss (T - 1 - t)")
    ax.set_ylabel("‖∂L/∂x_t‖ (mean over the batch)")
    ax.set_title("How far back the gradient reaches (loss on the last output only)")
    ax.set_ylim(1e-70, 1e30)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    save(figure, args.out_dir, "rnn_gradients.png", args.quick)


if __name__ == "__main__":
    main()
