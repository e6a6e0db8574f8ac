"""Cases for the activations of refnet.nn.activation_extra.

CELU, Threshold, Hardshrink and Softshrink take their parameters drawn; inputs keep away
from the kinks (and Threshold's jump), where a central difference is meaningless.
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


# torch's float64 CELU backward rounds alpha to float32 (derivatives.yaml: 1.0 /
# alpha.toFloat()), so its slope e^{x/α} is off by ~|x/α|·6e-8 relative; refnet uses α.
@module_case(nn.CELU)
def celu_case(draw: Draw) -> ModuleCase:
    alpha = draw(st.floats(0.5, 2.0))
    x = draw(arrays(draw(shapes()), kinks=(0.0,)))
    return ModuleCase(nn.CELU(alpha), x, torch_rtol64=1e-6)


@module_case(nn.Threshold)
def threshold_case(draw: Draw) -> ModuleCase:
    threshold = draw(st.floats(-1.0, 1.0))
    module = nn.Threshold(threshold, draw(st.floats(-2.0, 2.0)))
    return ModuleCase(module, draw(arrays(draw(shapes()), kinks=(threshold,))))


def _shrink_case(cls: type[nn.Hardshrink] | type[nn.Softshrink]) -> None:
    def case(draw: Draw) -> ModuleCase:
        lambd = draw(st.floats(0.0, 1.0))
        return ModuleCase(cls(lambd), draw(arrays(draw(shapes()), kinks=(-lambd, lambd))))

    module_case(cls)(case)


_shrink_case(nn.Hardshrink)
_shrink_case(nn.Softshrink)


@module_case(nn.Tanhshrink)
def tanhshrink_case(draw: Draw) -> ModuleCase:
    return ModuleCase(nn.Tanhshrink(), draw(arrays(draw(shapes()), low=-3.0, high=3.0)))


@module_case(nn.Softmin)
def softmin_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=1, max_dims=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return ModuleCase(nn.Softmin(dim=dim), draw(arrays(shape, low=-4.0, high=4.0)))


@module_case(nn.GLU)
def glu_case(draw: Draw) -> ModuleCase:
    shape = list(draw(shapes(min_dims=1, max_dims=4)))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] *= 2
    dim = draw(st.sampled_from([axis, axis - len(shape)]))
    return ModuleCase(nn.GLU(dim), draw(arrays(tuple(shape), low=-4.0, high=4.0)))
