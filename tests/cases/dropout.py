"""Cases for Dropout and Dropout2d.

p is drawn from the edge cases 0 and 1 and from the open interval; the mode from
training and evaluation. ``reset`` re-seeds the module's generator before every
forward, so the gradient check sees one fixed mask (dropout is then linear in x).

Agreement with torch: in evaluation mode, and in training mode with p = 0 or p = 1,
torch's ``nn.Dropout`` is deterministic and is compared as it is. In training mode with
0 < p < 1 the two libraries draw different masks, so the torch side repeats PyTorch's
arithmetic (ATen's ``_dropout_impl``: ``noise = mask.to(dtype); noise.div_(1 - p);
input * noise``) with refnet's mask; that checks the scaling, the broadcasting of
Dropout2d's channel mask and the backward, not the random stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

PROBABILITIES = st.sampled_from([0.0, 1.0]) | st.floats(0.05, 0.95)


def same_mask_in_torch(module: nn.Module) -> Any:
    """A torch module doing PyTorch's dropout arithmetic with ``module``'s latest mask."""
    import torch

    class SameMaskDropout(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            noise = torch.from_numpy(module._noise != 0).to(x.dtype)
            noise.div_(1 - module.p)
            return x * noise

    return SameMaskDropout()


def _dropout_case(
    cls: type[nn.Dropout] | type[nn.Dropout2d], draw: Draw, shape: tuple[int, ...]
) -> ModuleCase:
    p = draw(PROBABILITIES)
    seed = draw(seeds())
    module = cls(p, generator=seed)
    module.train(draw(st.booleans()))

    def reset() -> None:
        module.generator = np.random.default_rng(seed)

    random_mask = module.training and 0.0 < p < 1.0
    return ModuleCase(
        module,
        draw(arrays(shape)),
        reset=reset,
        to_torch=same_mask_in_torch if random_mask else None,
    )


@module_case(nn.Dropout)
def dropout_case(draw: Draw) -> ModuleCase:
    return _dropout_case(nn.Dropout, draw, draw(shapes(min_dims=1, max_dims=4)))


@module_case(nn.Dropout2d)
def dropout2d_case(draw: Draw) -> ModuleCase:
    # 4-D only: 3-D input works too but warns (tests/test_dropout.py covers it).
    return _dropout_case(nn.Dropout2d, draw, draw(shapes(min_dims=4, max_dims=4, max_side=3)))
