"""Cases for AdaptiveLogSoftmaxWithLoss: drawn sizes, cutoffs, div_value and head_bias.

Every cluster gets at least one sample (torch leaves an unused cluster's gradients None,
refnet's stay zero: tests/test_adaptive_softmax.py checks that case); the input is
differentiated, the targets are indices. The
torch twin is built from refnet's own constructor arguments (refnet keeps ``cutoffs``
with ``n_classes`` appended, as torch does, so the generic converter cannot pass it on).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _torch_twin(module: nn.Module) -> Any:
    import torch

    from refnet.interop.torch import to_tensor

    assert isinstance(module, nn.AdaptiveLogSoftmaxWithLoss)
    dtype = torch.float64 if module.head.weight.data.dtype == np.float64 else torch.float32
    twin = torch.nn.AdaptiveLogSoftmaxWithLoss(
        module.in_features,
        module.n_classes,
        module.cutoffs[:-1],
        div_value=module.div_value,
        head_bias=module.head_bias,
        dtype=dtype,
    )
    twin.load_state_dict({k: to_tensor(v) for k, v in module.state_dict().items()})
    return twin.train(module.training)


@module_case(nn.AdaptiveLogSoftmaxWithLoss)
def adaptive_softmax_case(draw: Draw) -> ModuleCase:
    in_features = draw(st.integers(2, 9))
    n_classes = draw(st.integers(3, 12))
    cutoffs = sorted(draw(st.sets(st.integers(1, n_classes - 1), min_size=1, max_size=3)))
    module = nn.AdaptiveLogSoftmaxWithLoss(
        in_features,
        n_classes,
        cutoffs,
        div_value=draw(st.sampled_from([1.0, 2.0, 4.0])),
        head_bias=draw(st.booleans()),
        dtype=np.float64,
        generator=draw(seeds()),
    )
    rng = np.random.default_rng(draw(seeds()))
    bounds = itertools.pairwise([0, *module.cutoffs])  # the head's shortlist, each cluster
    one_each = [rng.integers(low, high) for low, high in bounds]
    target = rng.permutation(
        np.concatenate([one_each, rng.integers(0, n_classes, draw(st.integers(0, 6)))])
    )
    x = rng.normal(size=(target.shape[0], in_features))
    return ModuleCase(module, (x, target), to_torch=_torch_twin)
