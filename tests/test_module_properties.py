"""Properties every registered module must have (see ``tests/cases``).

For each class: its backward agrees with central differences (input and parameters,
float64, rtol 1e-6); outputs and gradients keep float32 and float64; backward neither
mutates its argument nor the cached input; gradients accumulate over two backward calls
and ``zero_grad`` resets them; ``state_dict`` round-trips; backward before forward fails
clearly.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet.gradcheck import check_module
from refnet.nn import Module
from tests.cases import MODULE_CASES, ModuleCase

CLASSES = sorted(MODULE_CASES, key=lambda cls: cls.__name__)
by_class = pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)


def _draw(data: st.DataObject, cls: type[Module]) -> ModuleCase:
    return data.draw(MODULE_CASES[cls], label=cls.__name__)


def _as_dtype(x: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """Floating inputs take the dtype under test; integer inputs (indices) stay as they are."""
    return x if np.issubdtype(x.dtype, np.integer) else x.astype(dtype)


def _forward(case: ModuleCase, x: np.ndarray | None = None) -> np.ndarray:
    if case.reset is not None:
        case.reset()
    return case.module(case.x if x is None else x)


def _forward_backward(
    case: ModuleCase, x: np.ndarray, G: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    y = _forward(case, x)
    if G is None:
        G = np.random.default_rng(1).standard_normal(y.shape).astype(y.dtype)
    return y, case.module.backward(G)


@by_class
@given(data=st.data())
def test_gradient_check(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    check_module(case.module, case.x, reset=case.reset)


@by_class
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_dtype_is_preserved(
    cls: type[Module], dtype: type[np.floating], data: st.DataObject
) -> None:
    case = _draw(data, cls)
    case.module.to(dtype)
    x = _as_dtype(case.x, dtype)
    y, grad_x = _forward_backward(case, x)
    assert y.dtype == dtype
    if np.issubdtype(x.dtype, np.floating):
        assert grad_x.dtype == dtype and grad_x.shape == x.shape
    for name, param in case.module.named_parameters():
        assert param.data.dtype == dtype, name
        assert param.grad.dtype == dtype and param.grad.shape == param.data.shape, name


@by_class
@given(data=st.data())
def test_backward_leaves_its_inputs_alone(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    x_before = case.x.copy()
    y = case.module(case.x) if case.reset is None else (case.reset(), case.module(case.x))[1]
    G = np.random.default_rng(2).standard_normal(y.shape)
    G_before = G.copy()
    case.module.backward(G)
    np.testing.assert_array_equal(G, G_before, err_msg="backward modified grad_output")
    np.testing.assert_array_equal(case.x, x_before, err_msg="forward/backward modified the input")


@by_class
@given(data=st.data())
def test_gradients_accumulate_and_zero_grad_resets(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    module = case.module
    module.zero_grad()
    y, _ = _forward_backward(case, case.x)
    G = np.random.default_rng(3).standard_normal(y.shape)
    module.zero_grad()
    _forward(case)  # each backward consumes its own forward's cache
    first = module.backward(G)
    once = {name: p.grad.copy() for name, p in module.named_parameters()}
    _forward(case)
    second = module.backward(G)
    if first is None or second is None:  # integer inputs (indices) have no gradient
        assert first is None and second is None
    else:
        np.testing.assert_allclose(
            second, first, rtol=1e-12, atol=1e-300, err_msg="input gradient changed on repeat"
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
    np.testing.assert_array_equal(clone(case.x), original(case.x))


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
    y, _ = _forward_backward(case, case.x)
    with pytest.raises(RuntimeError, match="more times than forward"):
        case.module.backward(np.ones_like(y))
