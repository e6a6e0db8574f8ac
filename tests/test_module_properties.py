"""Properties every registered module must have (see ``tests/cases``).

For each class: its backward agrees with central differences (input and parameters,
float64, rtol 1e-6); outputs and gradients keep float32 and float64; backward neither
mutates its argument nor the cached input; gradients accumulate over two backward calls
and ``zero_grad`` resets them; ``state_dict`` round-trips; backward before forward fails
clearly.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.gradcheck import check_module
from refnet.nn import Module
from tests.cases import MODULE_CASES, ModuleCase
from tests.structure import (
    Structure,
    call_backward,
    input_gradients,
    is_float,
    leaves,
    map_structure,
    upstream,
)

CLASSES = sorted(MODULE_CASES, key=lambda cls: cls.__name__)
by_class = pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)


def _draw(data: st.DataObject, cls: type[Module]) -> ModuleCase:
    return data.draw(MODULE_CASES[cls], label=cls.__name__)


def _as_dtype(x: Structure, dtype: type[np.floating]) -> Structure:
    """Floating inputs take the dtype under test; integer inputs (indices) stay as they are."""
    return map_structure(lambda a: a.astype(dtype) if is_float(a) else a, x)


def _forward(case: ModuleCase, inputs: tuple[Any, ...] | None = None) -> Structure:
    return case.call(inputs)


def _forward_backward(
    case: ModuleCase, inputs: tuple[Any, ...] | None = None, seed: int = 1
) -> tuple[Structure, Structure]:
    y = _forward(case, inputs)
    return y, call_backward(case.module, upstream(y, seed, case.unused))


@by_class
@given(data=st.data())
def test_gradient_check(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    check_module(
        case.module,
        case.x,
        reset=case.reset,
        forward_kwargs=case.forward_kwargs,
        unused=case.unused,
    )


@by_class
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_dtype_is_preserved(
    cls: type[Module], dtype: type[np.floating], data: st.DataObject
) -> None:
    case = _draw(data, cls)
    case.module.to(dtype)
    inputs = _as_dtype(case.inputs, dtype)
    y, returned = _forward_backward(case, inputs)
    for path, out in leaves(y):
        if is_float(out):
            assert out.dtype == dtype, f"output {path}"
    for x, grad_x in input_gradients(returned, inputs):
        assert grad_x.dtype == dtype and grad_x.shape == x.shape
    for name, param in case.module.named_parameters():
        assert param.data.dtype == dtype, name
        assert param.grad.dtype == dtype and param.grad.shape == param.data.shape, name


@by_class
@given(data=st.data())
def test_backward_leaves_its_inputs_alone(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    x_before = map_structure(np.copy, case.inputs)
    y = _forward(case)
    G = upstream(y, 2, case.unused)
    G_before = map_structure(np.copy, G)
    call_backward(case.module, G)
    for (_, g), (_, g_before) in zip(leaves(G), leaves(G_before), strict=True):
        np.testing.assert_array_equal(g, g_before, err_msg="backward modified grad_output")
    for (_, x), (_, x_old) in zip(leaves(case.inputs), leaves(x_before), strict=True):
        np.testing.assert_array_equal(x, x_old, err_msg="forward/backward modified the input")


@by_class
@given(data=st.data())
def test_gradients_accumulate_and_zero_grad_resets(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    module = case.module
    module.zero_grad()
    y, _ = _forward_backward(case)
    G = upstream(y, 3, case.unused)
    module.zero_grad()
    _forward(case)  # each backward consumes its own forward's cache
    first = input_gradients(call_backward(module, G), case.inputs)
    once = {name: p.grad.copy() for name, p in module.named_parameters()}
    _forward(case)
    second = input_gradients(call_backward(module, G), case.inputs)
    assert len(first) == len(second)  # integer inputs (indices) have no gradient
    for (_, a), (_, b) in zip(first, second, strict=True):
        np.testing.assert_allclose(
            b, a, rtol=1e-12, atol=1e-300, err_msg="input gradient changed on repeat"
        )
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[name], rtol=1e-12, atol=1e-300, err_msg=name)
    module.zero_grad()
    for name, p in module.named_parameters():
        assert not p.grad.any(), f"zero_grad left {name} non-zero"


@by_class
@given(data=st.data())
def test_state_dict_round_trips(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    original = case.module
    clone = copy.deepcopy(original)
    for array in clone.state_dict().values():
        assert array is not None
    for param in clone.parameters():
        param.data += 1.0
    clone.load_state_dict(original.state_dict())
    for key, value in original.state_dict().items():
        np.testing.assert_array_equal(clone.state_dict()[key], value, err_msg=key)
    clone.eval(), original.eval()
    theirs = clone(*case.inputs, **case.forward_kwargs)
    ours = original(*case.inputs, **case.forward_kwargs)
    for (_, a), (_, b) in zip(leaves(theirs), leaves(ours), strict=True):
        np.testing.assert_array_equal(a, b)


@by_class
@given(data=st.data())
def test_backward_before_forward_fails_clearly(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    fresh = copy.deepcopy(case.module)
    with pytest.raises(RuntimeError, match="before forward"):
        fresh.backward(np.ones(1))


@by_class
@given(data=st.data())
def test_an_extra_backward_fails_clearly(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    y, _ = _forward_backward(case)
    with pytest.raises(RuntimeError, match="more times than forward"):
        call_backward(case.module, upstream(y, 4, case.unused))
