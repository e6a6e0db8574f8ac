"""Cases for the padding layers: Zero/Constant/Reflection/Replication/CircularPad 1d, 2d, 3d.

Widths are drawn from -1 (a crop) to 3, as one int or one per side, and the input
(batched or unbatched) is made large enough for the mode: reflection widths below the
axis size, circular ones at most the size left after cropping, a non-empty output.
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

_ONE_D = {
    nn.ZeroPad1d: "constant",
    nn.ConstantPad1d: "constant",
    nn.ReflectionPad1d: "reflect",
    nn.ReplicationPad1d: "replicate",
    nn.CircularPad1d: "circular",
}
_TWO_D = {
    nn.ZeroPad2d: "constant",
    nn.ConstantPad2d: "constant",
    nn.ReflectionPad2d: "reflect",
    nn.ReplicationPad2d: "replicate",
    nn.CircularPad2d: "circular",
}


_THREE_D = {
    nn.ZeroPad3d: "constant",
    nn.ConstantPad3d: "constant",
    nn.ReflectionPad3d: "reflect",
    nn.ReplicationPad3d: "replicate",
    nn.CircularPad3d: "circular",
}


def _axis_size(draw: Draw, before: int, after: int, mode: str, largest: int = 6) -> int:
    """A size ≤ 6 for which ``(before, after)`` is valid in ``mode`` with a non-empty output."""
    crop = -min(before, 0) - min(after, 0)
    low = max(1, 1 - before - after, crop + 1)
    if mode == "reflect":
        low = max(low, before + 1, after + 1)
    if mode == "circular":
        low = max(low, max(before, after) + crop)
    return draw(st.integers(low, max(low, largest)))


def _padding_case(cls: type[nn.Module], mode: str, axes: int) -> None:
    def case(draw: Draw) -> ModuleCase:
        if draw(st.booleans()):
            width = draw(st.integers(-1, 3))
            padding: int | tuple[int, ...] = width
            widths = (width,) * (2 * axes)
        else:
            widths = tuple(draw(st.integers(-1, 3)) for _ in range(2 * axes))
            padding = widths
        pairs = [widths[i : i + 2] for i in range(0, 2 * axes, 2)][::-1]
        largest = 6 if axes < 3 else 4  # 3-d: small volumes keep the gradient check quick
        sizes = tuple(_axis_size(draw, b, a, mode, largest) for b, a in pairs)
        batch = draw(st.sampled_from([(), (2,)]))
        channels = (draw(st.integers(1, 3)),)
        args = (
            (padding, draw(st.floats(-2, 2))) if cls.__name__.startswith("Constant") else (padding,)
        )
        return ModuleCase(cls(*args), draw(arrays((*batch, *channels, *sizes))))

    module_case(cls)(case)


for _cls, _mode in _ONE_D.items():
    _padding_case(_cls, _mode, 1)
for _cls, _mode in _TWO_D.items():
    _padding_case(_cls, _mode, 2)
for _cls, _mode in _THREE_D.items():
    _padding_case(_cls, _mode, 3)
