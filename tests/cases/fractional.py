"""Cases for FractionalMaxPool2d and FractionalMaxPool3d: drawn sizes, kernels, output
sizes or ratios, with fixed ``_random_samples`` (so the windows, and torch's, are known).

Inputs are continuous draws, so a window's maximum is unique and the gradient (routed to
it) is a derivative a central difference measures.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _case(
    draw: Draw, cls: type[nn.FractionalMaxPool2d] | type[nn.FractionalMaxPool3d]
) -> ModuleCase:
    dims = cls.dims
    rng = np.random.default_rng(draw(seeds()))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    spatial = tuple(k + cls.spare + draw(st.integers(0, 4)) for k in kernel)
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    samples = rng.random((batch, channels, dims))
    if draw(st.booleans()):
        out = tuple(
            draw(st.integers(1, s - k + 1 - cls.spare))
            for s, k in zip(spatial, kernel, strict=True)
        )
        module = cls(kernel, output_size=out, _random_samples=samples)
    else:
        ratio = draw(st.floats(0.3, 0.9))
        if any(
            int(s * ratio) + k - 1 > s - cls.spare or int(s * ratio) < 1
            for s, k in zip(spatial, kernel, strict=True)
        ):
            return ModuleCase(
                cls(kernel, output_size=1, _random_samples=samples),
                rng.normal(size=(batch, channels, *spatial)),
            )
        module = cls(kernel, output_ratio=ratio, _random_samples=samples)
    return ModuleCase(module, rng.normal(size=(batch, channels, *spatial)))


@module_case(nn.FractionalMaxPool2d)
def fractional_max_pool2d_case(draw: Draw) -> ModuleCase:
    return _case(draw, nn.FractionalMaxPool2d)


@module_case(nn.FractionalMaxPool3d)
def fractional_max_pool3d_case(draw: Draw) -> ModuleCase:
    return _case(draw, nn.FractionalMaxPool3d)
