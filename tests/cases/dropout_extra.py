"""Cases for Dropout1d, Dropout3d, AlphaDropout, FeatureAlphaDropout, RReLU and Softmax2d.

The random layers follow :mod:`tests.cases.dropout`: ``reset`` re-seeds the generator
before every forward so the gradient check sees one fixed mask (or one set of RReLU
slopes), and in training mode the torch twin repeats PyTorch's arithmetic with refnet's
draw (ATen's ``_dropout_impl`` for the alpha kinds: ``b = (m - 1)·α a + α a p``,
``y = x·(a m) + b``; RReLU's ``x·noise`` with ``noise`` 1 where ``x > 0``). In
evaluation mode, and with p = 0 or 1, torch's own modules are compared as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, seeds, shapes
from tests.cases.dropout import PROBABILITIES, same_mask_in_torch
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

_ALPHA = 1.7580993408473766  # ATen's alpha (SELU's -λα, negated)


def same_alpha_mask_in_torch(module: nn.Module) -> Any:
    """A torch module doing ATen's alpha-dropout arithmetic with ``module``'s latest mask."""
    import torch

    class SameMaskAlphaDropout(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p = module.p
            a = 1.0 / np.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
            noise = torch.from_numpy(module._noise != 0).to(x.dtype)
            b = noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
            noise.mul_(a)
            return x * noise + b

    return SameMaskAlphaDropout()


def _random_case(cls: type[Any], draw: Draw, shape: tuple[int, ...], alpha: bool) -> ModuleCase:
    p = draw(PROBABILITIES)
    seed = draw(seeds())
    module = cls(p, generator=seed)
    module.train(draw(st.booleans()))

    def reset() -> None:
        module.generator = np.random.default_rng(seed)

    random_mask = module.training and 0.0 < p < 1.0
    twin = same_alpha_mask_in_torch if alpha else same_mask_in_torch
    return ModuleCase(
        module, draw(arrays(shape)), reset=reset, to_torch=twin if random_mask else None
    )


@module_case(nn.Dropout1d)
def dropout1d_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=2, max_dims=3, max_side=4))
    return _random_case(nn.Dropout1d, draw, shape, alpha=False)


@module_case(nn.Dropout3d)
def dropout3d_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=4, max_dims=5, max_side=3))
    return _random_case(nn.Dropout3d, draw, shape, alpha=False)


@module_case(nn.AlphaDropout)
def alpha_dropout_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=1, max_dims=4))
    return _random_case(nn.AlphaDropout, draw, shape, alpha=True)


@module_case(nn.FeatureAlphaDropout)
def feature_alpha_dropout_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=2, max_dims=5, max_side=3))
    return _random_case(nn.FeatureAlphaDropout, draw, shape, alpha=True)


def same_slopes_in_torch(module: nn.Module) -> Any:
    """A torch module computing RReLU's training output with ``module``'s drawn slopes."""
    import torch

    class SameSlopesRReLU(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.from_numpy(module._cache.copy()).to(x.dtype)

    return SameSlopesRReLU()


@module_case(nn.RReLU)
def rrelu_case(draw: Draw) -> ModuleCase:
    lower = draw(st.sampled_from([1.0 / 8]) | st.floats(0.0, 0.5))
    upper = lower + draw(st.sampled_from([1.0 / 3 - 1.0 / 8, 0.0]) | st.floats(0.0, 0.5))
    seed = draw(seeds())
    module = nn.RReLU(lower, upper, generator=seed)
    module.train(draw(st.booleans()))

    def reset() -> None:
        module.generator = np.random.default_rng(seed)

    x = draw(arrays(draw(shapes()), kinks=(0.0,)))
    return ModuleCase(
        module, x, reset=reset, to_torch=same_slopes_in_torch if module.training else None
    )


@module_case(nn.Softmax2d)
def softmax2d_case(draw: Draw) -> ModuleCase:
    shape = draw(shapes(min_dims=3, max_dims=4, max_side=4))
    return ModuleCase(nn.Softmax2d(), draw(arrays(shape, low=-4.0, high=4.0)))
