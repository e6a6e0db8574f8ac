"""Every registered module computes what its torch.nn counterpart computes.

Forward output, input gradient, parameter gradients and buffers, in float64 (rtol 1e-10)
and float32 (rtol 1e-5), over Hypothesis-drawn cases. Skipped when torch is missing.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.nn import Module
from tests.cases import MODULE_CASES, NOT_IN_TORCH
from tests.torch_utils import check_module_against_torch

CLASSES = sorted((c for c in MODULE_CASES if c not in NOT_IN_TORCH), key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(data=st.data())
def test_module_matches_torch(
    cls: type[Module], dtype: type[np.floating], data: st.DataObject
) -> None:
    check_module_against_torch(data.draw(MODULE_CASES[cls], label=cls.__name__), dtype)
