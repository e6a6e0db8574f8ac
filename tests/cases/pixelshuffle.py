"""Cases for PixelShuffle, PixelUnshuffle and ChannelShuffle: batched or not, factors 1-3."""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _leading(draw: Draw) -> tuple[int, ...]:
    return draw(st.sampled_from([(), (2,), (1, 2)]))


@module_case(nn.PixelShuffle)
def pixel_shuffle_case(draw: Draw) -> ModuleCase:
    r = draw(st.integers(1, 3))
    shape = (
        *_leading(draw),
        draw(st.integers(1, 2)) * r * r,
        *draw(st.tuples(*[st.integers(1, 3)] * 2)),
    )
    return ModuleCase(nn.PixelShuffle(r), draw(arrays(shape)))


@module_case(nn.PixelUnshuffle)
def pixel_unshuffle_case(draw: Draw) -> ModuleCase:
    r = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    shape = (*_leading(draw), draw(st.integers(1, 2)), h * r, w * r)
    return ModuleCase(nn.PixelUnshuffle(r), draw(arrays(shape)))


@module_case(nn.ChannelShuffle)
def channel_shuffle_case(draw: Draw) -> ModuleCase:
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 3))
    rest = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    shape = (draw(st.integers(1, 2)), channels, *rest)
    return ModuleCase(nn.ChannelShuffle(groups), draw(arrays(shape)))
