"""Cases for Upsample, UpsamplingNearest2d and UpsamplingBilinear2d.

Drawn: the mode (and with it the rank: 'linear' 1-d, 'bilinear' 2-d, 'trilinear' 3-d,
the nearest modes any of 1-3 spatial axes), ``size`` or ``scale_factor`` (one number
or one per axis, factors that are not integers included: then ``scale_factor`` and
``size`` read different source positions), ``align_corners`` and
``recompute_scale_factor``. Input sizes are built so that every output is non-empty.

One disagreement is steered around, not hidden: PyTorch's 1-d and 3-d ``'nearest'``
*backward* takes a shortcut (``i = o`` when the size is unchanged, ``⌊o / 2⌋`` when it
doubles) that its forward does not take with a non-integer ``scale_factor``, so its
gradient is not the adjoint of its own output there. Those draws get
``recompute_scale_factor=True`` (where both rules agree); tests/test_upsampling.py
pins the disagreement itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.nn.functional.upsampling import axis_weights
from refnet.testing import arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

FACTORS = [0.5, 0.75, 1.0, 1.3, 1.5, 2.0, 2.1, 2.5, 3.0]
_RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}


def torch_backward_disagrees(sizes: tuple[int, ...], factors: tuple[float, ...], k: int) -> bool:
    """Whether PyTorch's 1-d/3-d nearest backward reads other positions than its forward."""
    if k == 2:
        return False
    for n, f in zip(sizes, factors, strict=True):
        m = int(n * f)
        if m in (n, 2 * n):
            forward = axis_weights(n, m, f, "nearest", False, np.dtype(np.float64)).index0
            shortcut = np.arange(m) if m == n else np.arange(m) // 2
            if not np.array_equal(forward, shortcut):
                return True
    return False


def _resize(draw: Draw, k: int, nearest: bool) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Input spatial sizes and the size/scale_factor/recompute arguments for them."""
    if draw(st.booleans()):
        sizes = tuple(draw(st.integers(1, 4)) for _ in range(k))
        out = tuple(draw(st.integers(1, 6)) for _ in range(k))
        size: int | tuple[int, ...] = out[0] if k == 1 or draw(st.booleans()) else out
        if isinstance(size, int):
            out = (size,) * k
        return sizes, {"size": size}
    factors = tuple(draw(st.sampled_from(FACTORS)) for _ in range(k))
    if draw(st.booleans()):
        factors = (factors[0],) * k
    sizes = tuple(draw(st.integers(2 if f < 1 else 1, 4)) for f in factors)
    scale: float | tuple[float, ...] = factors[0] if len(set(factors)) == 1 else factors
    recompute = draw(st.sampled_from([None, False, True]))
    if nearest and torch_backward_disagrees(sizes, factors, k):
        recompute = True
    return sizes, {"scale_factor": scale, "recompute_scale_factor": recompute}


def _input(draw: Draw, sizes: tuple[int, ...]) -> Any:
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sizes)
    return draw(arrays(shape))


@module_case(nn.Upsample)
def upsample_case(draw: Draw) -> ModuleCase:
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "trilinear"]))
    nearest = mode.startswith("nearest")
    k = draw(st.integers(1, 3)) if nearest else _RANK[mode]
    sizes, resize = _resize(draw, k, mode == "nearest")
    align = None if nearest else draw(st.sampled_from([None, False, True]))
    module = nn.Upsample(mode=mode, align_corners=align, **resize)
    return ModuleCase(module, _input(draw, sizes))


@module_case(nn.UpsamplingNearest2d)
def upsampling_nearest2d_case(draw: Draw) -> ModuleCase:
    sizes, resize = _resize(draw, 2, True)
    resize.pop("recompute_scale_factor", None)
    return ModuleCase(nn.UpsamplingNearest2d(**resize), _input(draw, sizes))


@module_case(nn.UpsamplingBilinear2d)
def upsampling_bilinear2d_case(draw: Draw) -> ModuleCase:
    sizes, resize = _resize(draw, 2, False)
    resize.pop("recompute_scale_factor", None)
    return ModuleCase(nn.UpsamplingBilinear2d(**resize), _input(draw, sizes))
