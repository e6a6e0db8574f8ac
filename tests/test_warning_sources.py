"""A layer's warning names the line that called the layer (``warnings.warn``'s
``stacklevel``), which is where a user looks; refnet's own frames (the forward, the
module's call and its recording wrapper) are counted."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn.utils import clip_grad_norm_

CALLS: dict[str, tuple[Callable[[], object], str]] = {
    "Dropout2d on 3-D input": (
        lambda: nn.Dropout2d(0.5, generator=0)(np.ones((2, 3, 4))),
        "3-D input",
    ),
    "Softmax without dim": (lambda: nn.Softmax()(np.ones((2, 3))), "implicit dimension"),
    "LogSoftmax without dim": (lambda: nn.LogSoftmax()(np.ones((2, 3))), "implicit dimension"),
    "InstanceNorm1d of other channels": (
        lambda: nn.InstanceNorm1d(4)(np.ones((2, 3, 5))),
        "does not match num_features",
    ),
    "clip_grad_norm_ of an empty generator": (
        lambda: clip_grad_norm_((p for p in []), 1.0),
        "empty generator",
    ),
}


@pytest.mark.parametrize("case", sorted(CALLS))
def test_the_warning_points_at_the_callers_line(case: str) -> None:
    """The frame named is the one calling the layer (here each lambda), not one inside
    refnet and not the lambda's caller."""
    call, message = CALLS[case]
    with pytest.warns(UserWarning, match=message) as record:
        call()
    first = call.__code__.co_firstlineno
    assert [(w.filename, w.lineno in (first, first + 1)) for w in record] == [(__file__, True)]
