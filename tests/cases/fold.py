"""Cases for Unfold and Fold: kernel, dilation, padding and stride drawn (as ints or
pairs), the plane made large enough for at least one block, batched or not."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _blocks(draw: Draw) -> tuple[dict[str, Any], tuple[int, int], tuple[int, int]]:
    """Block arguments, a plane size (H, W) and its block counts (Ho, Wo)."""
    axes = []
    for _ in range(2):
        k, d, p, s = (
            draw(st.integers(1, 3)),
            draw(st.integers(1, 2)),
            draw(st.integers(0, 2)),
            draw(st.integers(1, 3)),
        )
        low = max(1, d * (k - 1) + 1 - 2 * p)
        n = draw(st.integers(low, low + 4))
        axes.append((k, d, p, s, n, (n + 2 * p - d * (k - 1) - 1) // s + 1))
    args: dict[str, Any] = {}
    for i, name in enumerate(("kernel_size", "dilation", "padding", "stride")):
        pair = (axes[0][i], axes[1][i])
        args[name] = pair[0] if pair[0] == pair[1] and draw(st.booleans()) else pair
    return args, (axes[0][4], axes[1][4]), (axes[0][5], axes[1][5])


def _batch(draw: Draw) -> tuple[int, ...]:
    return draw(st.sampled_from([(1,), (2,), ()]))


@module_case(nn.Unfold)
def unfold_case(draw: Draw) -> ModuleCase:
    args, size, _ = _blocks(draw)
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 2)), *size)))
    return ModuleCase(nn.Unfold(**args), x)


@module_case(nn.Fold)
def fold_case(draw: Draw) -> ModuleCase:
    args, size, (ho, wo) = _blocks(draw)
    k = args["kernel_size"]
    taps = k * k if isinstance(k, int) else k[0] * k[1]
    output_size = size[0] if size[0] == size[1] and draw(st.booleans()) else size
    x = draw(arrays((*_batch(draw), draw(st.integers(1, 2)) * taps, ho * wo)))
    return ModuleCase(nn.Fold(output_size, **args), x)
