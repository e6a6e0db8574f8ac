"""Nothing public in refnet.nn escapes the property suite.

Every public Module class must have a registered case (tests/cases), so it is gradient
checked, tested for the invariants and compared with torch; a new layer without a case
fails here. Containers without a forward of their own (``ModuleList`` and the like)
must have a case in ``tests/test_containers.py`` instead (state_dict keys against torch,
round trips). A module whose forward takes several arrays must be registered with a
case of several inputs, so the generic tests check every input's gradient.
"""

from __future__ import annotations

import inspect

from hypothesis import given, settings
from hypothesis import strategies as st

import refnet.nn as nn
from tests.cases import LOSS_CASES, MODULE_CASES, NOT_IN_TORCH
from tests.test_containers import HOLDER_CASES

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
        cls.__name__ for cls in (*MODULE_CASES, *LOSS_CASES, *HOLDER_CASES)
    }
    assert not missing, f"public modules without a case in tests/cases: {sorted(missing)}"


def test_public_names_are_exported() -> None:
    for name in nn.__all__:
        assert hasattr(nn, name), name


def test_exemptions_from_torch_comparison_give_a_reason() -> None:
    for cls, reason in NOT_IN_TORCH.items():
        assert reason.strip(), cls.__name__


def _required_array_inputs(cls: type[nn.Module]) -> int:
    """How many positional inputs ``forward`` requires (arrays, for a layer)."""
    parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
    return sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in parameters
    )


SEVERAL_INPUTS = sorted(
    (cls for cls in MODULE_CASES if _required_array_inputs(cls) > 1), key=lambda c: c.__name__
)


def test_forwards_with_several_required_inputs_are_recognised() -> None:
    from tests.test_several_inputs_outputs import Gate, Step

    assert _required_array_inputs(Gate) == 2 and _required_array_inputs(Step) == 3
    assert _required_array_inputs(nn.Linear) == 1


@settings(max_examples=1)
@given(data=st.data())
def test_cases_of_modules_with_several_inputs_pass_them_all(data: st.DataObject) -> None:
    for cls in SEVERAL_INPUTS:
        case = data.draw(MODULE_CASES[cls], label=cls.__name__)
        assert isinstance(case.x, tuple) and len(case.x) >= _required_array_inputs(cls), (
            f"{cls.__name__}: forward takes {_required_array_inputs(cls)} inputs; its case "
            "must pass them as a tuple so every input's gradient is checked"
        )
