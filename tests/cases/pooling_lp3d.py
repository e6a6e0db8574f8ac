"""Cases for LPPool3d: drawn norms (finite, and ±∞: max pooling of |x|), kernels, strides
and ceil mode, on positive inputs (a fractional power of a negative window sum is NaN, as
torch's) and, for ±∞, on values away from ties."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.LPPool3d)
def lp_pool3d_case(draw: Draw) -> ModuleCase:
    norm = draw(st.sampled_from([1.0, 2.0, 3.0, 1.5, math.inf, -math.inf]))
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = draw(st.none() | st.just(1))
    spatial = tuple(k + draw(st.integers(0, 2)) for k in kernel)
    rng = np.random.default_rng(draw(seeds()))
    x = rng.uniform(0.5, 2.0, size=(draw(st.integers(1, 2)), 2, *spatial))
    if math.isinf(norm):
        x = x * rng.choice([-1.0, 1.0], size=x.shape)
    module = nn.LPPool3d(norm, kernel, stride, ceil_mode=draw(st.booleans()))
    return ModuleCase(module, x)
