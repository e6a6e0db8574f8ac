"""Cases for Bilinear (two inputs, weight and bias) and EmbeddingBag (every mode, 2-D
input or 1-D with offsets, include_last_offset, per-sample weights, padding, empty bags).

EmbeddingBag's indices and offsets are integers, so the gradient check differentiates
the weight and the per-sample weights. For ``mode='max'`` the table's values are
distinct (no ties under the maximum, where the gradient is a convention); the padding
row is looked up too, since a left-out entry changes nothing and its gradient is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.nn.parameter import Parameter
from refnet.testing import arrays, seeds, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.Bilinear)
def bilinear_case(draw: Draw) -> ModuleCase:
    in1, in2, out = (draw(st.integers(1, 4)) for _ in range(3))
    module = nn.Bilinear(in1, in2, out, bias=draw(st.booleans()), generator=draw(seeds()))
    lead = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    x1 = draw(arrays((*lead, in1)))
    x2 = draw(arrays((*lead, in2)))
    return ModuleCase(module.double(), (x1, x2))


@module_case(nn.EmbeddingBag)
def embedding_bag_case(draw: Draw) -> ModuleCase:
    rng = np.random.default_rng(draw(seeds()))
    num, dim = draw(st.integers(2, 6)), draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["sum", "mean", "max"]))
    padding_idx = draw(st.none() | st.integers(-num, num - 1))
    include_last = draw(st.booleans())
    module = nn.EmbeddingBag(
        num,
        dim,
        mode=mode,
        padding_idx=padding_idx,
        include_last_offset=include_last,
        generator=draw(seeds()),
    ).double()
    if mode == "max":  # distinct values, far apart compared with the step
        values = rng.permutation(num * dim).reshape(num, dim) * 0.1 - 0.05 * num * dim
        if module.padding_idx is not None:
            values[module.padding_idx] = 0.0
        module.weight = Parameter(values.astype(np.float64))
    x: tuple[Any, ...]
    if draw(st.booleans()):  # fixed-length bags
        B, L = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        indices = rng.integers(0, num, (B, L))
        x = (indices, None)
    else:
        sizes = rng.integers(0, 4, draw(st.integers(1, 4)))  # empty bags included
        indices = rng.integers(0, num, int(sizes.sum()))
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        if include_last:
            offsets = np.append(offsets, indices.size)
        x = (indices, offsets)
    if mode == "sum" and draw(st.booleans()):
        x = (*x, rng.uniform(-2.0, 2.0, indices.shape))
    return ModuleCase(module, x)
