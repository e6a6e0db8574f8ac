"""Cases for LinearCrossEntropyLoss: drawn sizes, bias, class weights, label smoothing,
reductions, K-dimensional logits (``out_features``) and ignored targets.

The input and the Linear's weights are differentiated; the targets are indices (one in
four set to ``ignore_index`` when one is drawn, -100 when it is None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.testing import seeds
from tests.cases.registry import ModuleCase, module_case

Draw = st.DrawFn


def _torch_twin(module: nn.Module) -> Any:
    """torch's module from refnet's arguments (the bias is the Linear's, not an attribute)."""
    import torch

    from refnet.interop.torch import to_tensor

    assert isinstance(module, nn.LinearCrossEntropyLoss)
    weight = None if module.weight is None else to_tensor(module.weight)
    twin = torch.nn.LinearCrossEntropyLoss(
        module.in_features,
        module.num_classes,
        out_features=module.out_features,
        bias=module.linear.bias is not None,
        dtype=to_tensor(module.linear.weight.data).dtype,
        reduction=module.reduction,
        weight=weight,
        ignore_index=module.ignore_index,
        label_smoothing=module.label_smoothing,
    )
    twin.load_state_dict({k: to_tensor(v) for k, v in module.state_dict().items()})
    return twin.train(module.training)


@module_case(nn.LinearCrossEntropyLoss)
def linear_cross_entropy_case(draw: Draw) -> ModuleCase:
    in_features, classes = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    out_features = draw(st.sampled_from([(), (2,), (2, 3)]))
    rng = np.random.default_rng(draw(seeds()))
    weight = rng.uniform(0.5, 2.0, classes) if draw(st.booleans()) else None
    ignore_index = draw(st.sampled_from([None, 0, classes - 1]))
    module = nn.LinearCrossEntropyLoss(
        in_features,
        classes,
        out_features=out_features,
        bias=draw(st.booleans()),
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=draw(st.sampled_from([0.0, 0.2])),
        dtype=np.float64,
        generator=draw(seeds()),
    )
    batch = draw(st.integers(1, 5))
    target = rng.integers(0, classes, (batch, *out_features))
    ignored = rng.random(target.shape) < 0.25
    target[ignored] = -100 if ignore_index is None else ignore_index
    # One counted target: 'mean' over nothing but ignored ones is NaN (as torch's).
    target.flat[0] = 1 if ignore_index == 0 else 0
    x = rng.normal(size=(batch, in_features))
    return ModuleCase(module, (x, target), to_torch=_torch_twin)
