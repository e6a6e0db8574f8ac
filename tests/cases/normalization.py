"""Cases for BatchNorm1d/2d/3d, LayerNorm, GroupNorm, InstanceNorm1d/2d/3d, LocalResponseNorm.

Hyperparameters are drawn along with the shapes: eps, momentum (including ``None``, the
cumulative average), affine, bias, track_running_stats, training or evaluation mode.
The affine parameters get random values (PyTorch's initial γ = 1, β = 0 would hide a
backward that mixes them up), and so do the running statistics, so that evaluation mode
and the running-statistics update are tested away from their initial values.

Group sizes (the numbers one mean and variance are taken over) stay between 4 and ~16.
The input gradient is G projected away from two directions (constants and x̂), so with
1 or 2 values it is pure rounding (x̂ is 0 or ±1 whatever x is), and with 3 it is one
random component that can be tiny next to G, where float32 rounding of either library
dominates the torch comparison. With many values every input moves every output of its
group, and the central differences' rounding (summed over the group) reaches the
gradient check's 1e-9 absolute floor.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import arrays, shapes
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn

EPS = st.sampled_from([1e-5, 1e-3, 0.1])
MOMENTUM = st.sampled_from([0.1, 0.5, 1.0, None])


def _randomise_affine(draw: Draw, module: nn.Module) -> None:
    for name, param in module.named_parameters():
        low, high = (0.5, 2.0) if name.endswith("weight") else (-1.0, 1.0)
        param.data[...] = draw(arrays(param.shape, low=low, high=high))


def _batch_norm_case(
    cls: type[nn.BatchNorm1d] | type[nn.BatchNorm2d] | type[nn.BatchNorm3d], draw: Draw
) -> ModuleCase:
    C = draw(st.integers(1, 3))
    if cls is nn.BatchNorm1d:  # (N, C) or (N, C, L)
        spatial = draw(st.sampled_from([(), (draw(st.integers(1, 4)),)]))
    elif cls is nn.BatchNorm3d:
        spatial = tuple(draw(st.integers(1, 2)) for _ in range(3))
    else:
        spatial = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # At least 4 values per channel (N·L ≥ 4): see the module docstring.
    N = draw(st.integers(-(-4 // math.prod(spatial)), 4))
    track = draw(st.booleans())
    module = cls(
        C,
        eps=draw(EPS),
        momentum=draw(MOMENTUM),
        affine=draw(st.booleans()),
        track_running_stats=track,
        bias=draw(st.booleans()),
    ).double()
    _randomise_affine(draw, module)
    if track:
        assert module.running_mean is not None and module.running_var is not None
        module.running_mean[...] = draw(arrays((C,), low=-1.0, high=1.0))
        module.running_var[...] = draw(arrays((C,), low=0.5, high=2.0))
        module.num_batches_tracked[...] = draw(st.integers(0, 5))
    module.train(draw(st.booleans()))
    x = draw(arrays((N, C, *spatial), low=-3.0, high=3.0))
    return ModuleCase(module, x)


@module_case(nn.BatchNorm1d)
def batch_norm_1d_case(draw: Draw) -> ModuleCase:
    return _batch_norm_case(nn.BatchNorm1d, draw)


@module_case(nn.BatchNorm2d)
def batch_norm_2d_case(draw: Draw) -> ModuleCase:
    return _batch_norm_case(nn.BatchNorm2d, draw)


@module_case(nn.BatchNorm3d)
def batch_norm_3d_case(draw: Draw) -> ModuleCase:
    return _batch_norm_case(nn.BatchNorm3d, draw)


_INSTANCE = {nn.InstanceNorm1d: 1, nn.InstanceNorm2d: 2, nn.InstanceNorm3d: 3}


def _instance_norm_case(cls: type[nn.Module], draw: Draw) -> ModuleCase:
    k = _INSTANCE[cls]
    spatial = tuple(draw(st.integers(1, 4 if k == 1 else 2)) for _ in range(k))
    if math.prod(spatial) < 4:  # at least 4 values per instance: see the module docstring
        spatial = (*spatial[:-1], 4)
    C = draw(st.integers(1, 3))
    track = draw(st.booleans())
    module = cls(
        C,
        eps=draw(EPS),
        momentum=draw(MOMENTUM),
        affine=draw(st.booleans()),
        track_running_stats=track,
        bias=draw(st.booleans()),
    ).double()
    _randomise_affine(draw, module)
    if track:
        module.running_mean[...] = draw(arrays((C,), low=-1.0, high=1.0))
        module.running_var[...] = draw(arrays((C,), low=0.5, high=2.0))
    module.train(draw(st.booleans()))
    batch = draw(st.sampled_from([(1,), (2,), ()]))
    return ModuleCase(module, draw(arrays((*batch, C, *spatial), low=-3.0, high=3.0)))


for _cls in _INSTANCE:
    module_case(_cls)(lambda draw, cls=_cls: _instance_norm_case(cls, draw))


@module_case(nn.LocalResponseNorm)
def local_response_norm_case(draw: Draw) -> ModuleCase:
    module = nn.LocalResponseNorm(
        draw(st.integers(1, 5)),
        alpha=draw(st.sampled_from([1e-4, 0.1, 1.0])),
        beta=draw(st.sampled_from([0.75, 0.5, 1.5])),
        k=draw(st.sampled_from([1.0, 2.0, 0.5])),
    )
    spatial = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), *spatial)
    return ModuleCase(module, draw(arrays(shape, low=-2.0, high=2.0)))


@module_case(nn.LayerNorm)
def layer_norm_case(draw: Draw) -> ModuleCase:
    leading = draw(shapes(min_dims=0, max_dims=2, max_side=3))
    normalized_shape = draw(shapes(min_dims=1, max_dims=2, max_side=4))
    if math.prod(normalized_shape) < 4:  # too few values: see the module docstring
        normalized_shape = (*normalized_shape[:-1], 4)
    shape = leading + normalized_shape
    k = len(normalized_shape)
    # A single int is PyTorch's short form for a one-dimensional normalized_shape.
    given = normalized_shape[0] if k == 1 and draw(st.booleans()) else normalized_shape
    module = nn.LayerNorm(
        given,
        eps=draw(EPS),
        elementwise_affine=draw(st.booleans()),
        bias=draw(st.booleans()),
    ).double()
    _randomise_affine(draw, module)
    return ModuleCase(module, draw(arrays(shape, low=-3.0, high=3.0)))


@module_case(nn.GroupNorm)
def group_norm_case(draw: Draw) -> ModuleCase:
    groups = draw(st.integers(1, 3))
    spatial = draw(shapes(min_dims=0, max_dims=2, max_side=2))
    per_group = draw(st.integers(1, 3))
    if per_group * math.prod(spatial) < 4:  # too few values: see the module docstring
        per_group = 4
    C = groups * per_group
    N = draw(st.integers(1, 3))
    module = nn.GroupNorm(
        groups, C, eps=draw(EPS), affine=draw(st.booleans()), bias=draw(st.booleans())
    ).double()
    _randomise_affine(draw, module)
    return ModuleCase(module, draw(arrays((N, C, *spatial), low=-3.0, high=3.0)))
