"""Cases for CosineSimilarity and PairwiseDistance: two inputs, sometimes broadcast.

One input may have a size-1 axis or fewer leading axes than the other. PairwiseDistance's
second input is the first plus a difference kept away from 0 (the 1-norm's kinks).
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _broadcast_partner(draw: Draw, shape: tuple[int, ...], keep: int) -> tuple[int, ...]:
    """``shape``, or a shape broadcasting to it (axis ``keep`` counted from the end kept)."""
    choice = draw(st.integers(0, 2))
    if choice == 0 or len(shape) < 2:
        return shape
    if choice == 1:
        return shape[1:] if len(shape) - 1 >= keep else shape
    axes = [i for i in range(len(shape)) if i != len(shape) - keep]
    axis = draw(st.sampled_from(axes))
    return shape[:axis] + (1,) + shape[axis + 1 :]


@module_case(nn.CosineSimilarity)
def cosine_similarity_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    # At least 2 along dim: with 1, u = ±1 and the gradient is exactly 0 (torch's ~1e-17).
    axis = dim % len(shape)
    shape = shape[:axis] + (max(shape[axis], 2),) + shape[axis + 1 :]
    keep = len(shape) - dim % len(shape)
    shape1, shape2 = shape, _broadcast_partner(draw, shape, keep)
    if draw(st.booleans()):
        shape1, shape2 = shape2, shape1
    module = nn.CosineSimilarity(dim=dim, eps=draw(st.sampled_from([1e-8, 1e-6])))
    # Another range, so the two never coincide (parallel inputs: the gradient cancels to 0).
    x1, x2 = draw(arrays(shape1)), draw(arrays(shape2, low=-3.0, high=1.0))
    return ModuleCase(module, (x1, x2))


@module_case(nn.PairwiseDistance)
def pairwise_distance_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    p = draw(st.sampled_from([1.0, 2.0, 3.0, 1.5, math.inf]))
    module = nn.PairwiseDistance(
        p, eps=draw(st.sampled_from([1e-6, 0.0])), keepdim=draw(st.booleans())
    )
    x1 = draw(arrays(_broadcast_partner(draw, shape, 1)))
    x2 = x1 + draw(arrays(shape, kinks=(0.0,)))
    return ModuleCase(module, (x1, x2))
