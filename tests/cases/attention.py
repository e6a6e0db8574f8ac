"""Cases for RMSNorm, MultiheadAttention and the Transformer layers.

RMSNorm: eps drawn (None = the dtype's machine epsilon), affine or not, γ random (ones
would hide a backward that forgets it), one to three leading dimensions.
"""

from __future__ import annotations

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


@module_case(nn.RMSNorm)
def rms_norm_case(draw: Draw) -> ModuleCase:
    normalized = draw(st.sampled_from([(3,), (5,), (2, 3)]))
    lead = draw(st.sampled_from([(), (2,), (2, 3)]))
    affine = draw(st.booleans())
    module = nn.RMSNorm(
        normalized if len(normalized) > 1 else normalized[0],
        eps=draw(st.sampled_from([None, 1e-5, 0.1])),
        elementwise_affine=affine,
    ).double()
    if module.weight is not None:
        module.weight.data[...] = draw(arrays(module.weight.shape, low=0.5, high=2.0))
    return ModuleCase(module, draw(arrays((*lead, *normalized))), torch_rtol64=1e-9)
