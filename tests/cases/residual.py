"""Cases for Residual: a skip connection around blocks drawn from a few ResNet-style shapes.

The block is a ``Sequential`` of a linear map and a smooth activation, optionally with a
normalisation layer, or a single layer, so the identity path and the block's path both
carry gradient; widths of 2 or more, so every gradient tensor has more than one element
to set the scale of its tolerance. Compared with torch through
``refnet.interop.torch.Residual``.
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.Residual)
def residual_case(draw: Draw) -> ModuleCase:
    width = draw(st.integers(2, 4))
    batch = draw(st.integers(4, 5))  # LayerNorm/BatchNorm1d groups of 4 or more values
    seed = draw(seeds())
    kind = draw(st.sampled_from(["mlp", "norm", "single", "nested"]))
    if kind == "mlp":
        block: nn.Module = nn.Sequential(
            nn.Linear(width, width, generator=seed),
            nn.Tanh(),
            nn.Linear(width, width, generator=seed + 1),
        )
    elif kind == "norm":
        # Not Linear -> BatchNorm: normalising right after a linear map makes the loss
        # invariant to the weight's scale, and for width 1 its gradient pure rounding.
        block = nn.Sequential(
            nn.Linear(width, width, generator=seed), nn.Tanh(), nn.BatchNorm1d(width)
        )
    elif kind == "single":
        block = nn.Linear(width, width, generator=seed)
    else:
        block = nn.Sequential(nn.Residual(nn.Linear(width, width, generator=seed)), nn.Tanh())
    # BatchNorm's backward subtracts the batch's mean gradient, so under it the first
    # layer's bias gradient is a cancelling sum: in float32 it keeps ~1e-7 of each term's
    # size, ~2e-5 absolute on values of 0.02 beside others of 0.5 (seen).
    atol32 = 1e-4 if kind == "norm" else 1e-5
    x = draw(arrays((batch, width)))
    return ModuleCase(nn.Residual(block).double(), x, torch_atol32=atol32)
