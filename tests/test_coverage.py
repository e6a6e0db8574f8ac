"""Nothing public in refnet.nn escapes the property suite.

Every public Module class must have a registered case (tests/cases), so it is gradient
checked, tested for the invariants and compared with torch; a new layer without a case
fails here.
"""

from __future__ import annotations

import refnet.nn as nn
from tests.cases import LOSS_CASES, MODULE_CASES, NOT_IN_TORCH

ABSTRACT = {nn.Module}


def public_module_classes() -> set[type[nn.Module]]:
    found = set()
    for name in nn.__all__:
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj not in ABSTRACT:
            found.add(obj)
    return found


def test_every_public_module_has_a_gradient_checked_case() -> None:
    missing = {cls.__name__ for cls in public_module_classes()} - {
        cls.__name__ for cls in (*MODULE_CASES, *LOSS_CASES)
    }
    assert not missing, f"public modules without a case in tests/cases: {sorted(missing)}"


def test_public_names_are_exported() -> None:
    for name in nn.__all__:
        assert hasattr(nn, name), name


def test_exemptions_from_torch_comparison_give_a_reason() -> None:
    for cls, reason in NOT_IN_TORCH.items():
        assert reason.strip(), cls.__name__
