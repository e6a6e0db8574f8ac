"""Figure for the attention chapter: attention weights of refnet's MultiheadAttention.

A sequence of 12 random embeddings with a repeated motif (positions 6-8 copy 0-2) goes
through one ``nn.MultiheadAttention(32, 4)`` whose query and key projections are made to
compare embeddings directly (W_q = W_k = I for the packed rows, so a query attends to
the keys most like itself). Three panels: the weights averaged over the heads without a
mask (each copy attends to its original and itself), with the causal mask of
``Transformer.generate_square_subsequent_mask`` (−∞ above the diagonal: every row's
weights sit on and left of it, and row 0 has all its weight on key 0), and with a key
padding mask that blocks the last three positions (those columns are exactly 0). No
training: the pictures show what the masks do to the softmax.

Run: ``python docs/scripts/attention_weights.py`` (about a second).
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, save

import refnet.nn as nn
from refnet._typing import Array

EMBED, HEADS, LENGTH = 32, 4, 12


def sequence(seed: int = 0) -> Array:
    """(L, 1, E) embeddings with positions 6-8 copying positions 0-2."""
    x = np.random.default_rng(seed).standard_normal((LENGTH, 1, EMBED))
    x[6:9] = x[0:3]
    return x


def attention(seed: int = 0) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(EMBED, HEADS, generator=seed).double()
    assert mha.in_proj_weight is not None
    mha.in_proj_weight.data[: 2 * EMBED] = np.vstack([np.eye(EMBED)] * 2) * 1.2
    return mha


def weights() -> dict[str, Array]:
    """Head-averaged weights (L, L) for each mask."""
    mha, x = attention(), sequence()
    causal = nn.Transformer.generate_square_subsequent_mask(LENGTH, dtype=np.float64)
    padding = np.zeros((1, LENGTH), dtype=bool)
    padding[0, -3:] = True
    out: dict[str, Array] = {}
    for title, kwargs in (
        ("no mask", {}),
        ("causal mask", {"attn_mask": causal}),
        ("key padding: last 3 blocked", {"key_padding_mask": padding}),
    ):
        _, w = mha(x, x, x, **kwargs)
        out[title] = w[0]
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    panels = weights()
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (title, w) in zip(axes, panels.items(), strict=True):
        image = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(title)
        ax.set_xlabel("key position")
    axes[0].set_ylabel("query position")
    figure.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    save(figure, args.out_dir, "attention_weights.png", args.quick)


if __name__ == "__main__":
    main()
