"""Properties every registered loss must have (see ``tests/cases/loss.py``).

For each loss class, over Hypothesis-drawn shapes and options: its backward agrees with
central differences (float64; for ``'none'`` through a random upstream gradient); it
computes what its ``torch.nn`` counterpart computes, values and gradients (float64 rtol
1e-10, float32 rtol 1e-5; skipped without torch); it returns a float for ``'mean'`` /
``'sum'`` and an array for ``'none'`` and keeps float32 and float64; backward before
forward fails clearly; backward leaves its arguments alone and can be repeated.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet._typing import Array
from refnet.gradcheck import check_loss
from refnet.nn import Module
from tests.cases import LOSS_CASES, NOT_IN_TORCH, LossCase

CLASSES = sorted(LOSS_CASES, key=lambda cls: cls.__name__)
by_class = pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
dtypes = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def _draw(data: st.DataObject, cls: type[Module]) -> LossCase:
    return data.draw(LOSS_CASES[cls], label=cls.__name__)


def _targets_as(targets: tuple[Any, ...], dtype: type[np.floating]) -> tuple[Any, ...]:
    """Float targets take the dtype under test; class indices stay integers."""
    return tuple(
        t.astype(dtype) if np.issubdtype(np.asarray(t).dtype, np.floating) else t for t in targets
    )


def _as_dtype(case: LossCase, dtype: type[np.floating]) -> LossCase:
    criterion = copy.deepcopy(case.criterion).to(dtype)
    inputs = tuple(x.astype(dtype) for x in case.inputs)
    return LossCase(criterion, inputs, _targets_as(case.targets, dtype))


def _upstream(value: float | Array) -> Array | None:
    """A random upstream gradient for ``'none'``, nothing for a scalar loss."""
    if not isinstance(value, np.ndarray):
        return None
    return np.random.default_rng(1).standard_normal(value.shape).astype(value.dtype)


def _run(case: LossCase) -> tuple[float | Array, Array | None, tuple[Array, ...]]:
    """Forward and backward: ``(value, upstream gradient, input gradients)``."""
    value = case.criterion(*case.inputs, *case.targets)
    G = _upstream(value)
    grads = case.criterion.backward(G) if G is not None else case.criterion.backward()
    return value, G, grads if isinstance(grads, tuple) else (grads,)


@by_class
@given(data=st.data())
def test_gradient_check(cls: type[Module], data: st.DataObject) -> None:
    case = _draw(data, cls)
    inputs = case.inputs[0] if len(case.inputs) == 1 else case.inputs
    check_loss(case.criterion, inputs, case.targets)


@by_class
@dtypes
@given(data=st.data())
def test_value_type_and_dtype(
    cls: type[Module], dtype: type[np.floating], data: st.DataObject
) -> None:
    case = _as_dtype(_draw(data, cls), dtype)
    value, _, grads = _run(case)
    if case.criterion.reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == dtype
    else:
        assert type(value) is np.float64 and isinstance(value, float)  # .item() works
    assert len(grads) == len(case.inputs)
    for grad, x in zip(grads, case.inputs, strict=True):
        assert isinstance(grad, np.ndarray)
        assert grad.dtype == dtype and grad.shape == x.shape


@by_class
@given(data=st.data())
def test_backward_before_forward_fails_clearly(cls: type[Module], data: st.DataObject) -> None:
    fresh = copy.deepcopy(_draw(data, cls).criterion)
    with pytest.raises(RuntimeError, match="before forward"):
        fresh.backward() if fresh.reduction != "none" else fresh.backward(np.ones(1))


@by_class
@given(data=st.data())
def test_backward_leaves_its_arguments_alone_and_repeats(
    cls: type[Module], data: st.DataObject
) -> None:
    case = _draw(data, cls)
    before = copy.deepcopy((case.inputs, case.targets))
    _, G, first = _run(case)
    G_before = None if G is None else G.copy()
    case.criterion(*case.inputs, *case.targets)  # each backward consumes its own forward
    second = case.criterion.backward(G) if G is not None else case.criterion.backward()
    second = second if isinstance(second, tuple) else (second,)
    for a, b in zip((*case.inputs, *case.targets), (*before[0], *before[1]), strict=True):
        np.testing.assert_array_equal(a, b, err_msg="forward/backward modified an argument")
    if G is not None:
        np.testing.assert_array_equal(G, G_before, err_msg="backward modified grad_output")
    for g1, g2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(g1, g2, err_msg="a second backward gave another gradient")


def _gradient_scale(case: LossCase, G: Array | None) -> float:
    """The size of a gradient element whose local derivative ∂ℓ/∂x is of order 1.

    The agreement tolerance is relative, with an absolute floor of ``rtol`` times this
    scale: a gradient element can be a near-cancellation of O(1) terms (``σ(x) - t``,
    ``eˣ - t``, the anchor's ``±1 ∓ 1`` in a 1-D triplet) that each library rounds in
    its own way, off by an ulp of the terms, not of the result. ``∂L/∂ℓ`` is the scale:
    1 for ``'sum'``, |G| for ``'none'``, 1/(number of terms) for ``'mean'`` (the batch
    size for ``'batchmean'``); class weights in the cases are of order 1 too.
    """
    reduction = case.criterion.reduction
    if G is not None:
        return float(np.max(np.abs(G), initial=0.0))
    if reduction == "sum":
        return 1.0
    terms = copy.deepcopy(case.criterion)
    terms.reduction = "none"
    per_term = np.asarray(terms(*case.inputs, *case.targets))
    count = per_term.shape[0] if reduction == "batchmean" and per_term.ndim else per_term.size
    return 1.0 / max(count, 1)


def _torch_targets(targets: tuple[Any, ...]) -> list[Any]:
    from tests.torch_utils import torch

    return [
        torch.from_numpy(np.asarray(t, dtype=np.int64))
        if np.issubdtype(np.asarray(t).dtype, np.integer)
        else torch.from_numpy(np.array(t, copy=True))
        for t in targets
    ]


@pytest.mark.parametrize(
    "cls", [c for c in CLASSES if c not in NOT_IN_TORCH], ids=lambda c: c.__name__
)
@dtypes
@given(data=st.data())
def test_loss_matches_torch(
    cls: type[Module], dtype: type[np.floating], data: st.DataObject
) -> None:
    from tests.torch_utils import assert_close, to_array, to_torch, torch

    drawn = _draw(data, cls)
    rtol = drawn.torch_rtol64 if dtype == np.float64 else drawn.torch_rtol32
    case = _as_dtype(drawn, dtype)
    theirs = to_torch(case.criterion)
    value, G, grads = _run(case)

    tensors = [torch.from_numpy(x.copy()).requires_grad_() for x in case.inputs]
    their_value = theirs(*tensors, *_torch_targets(case.targets))
    if G is None:
        their_value.backward()
    else:
        their_value.backward(torch.from_numpy(G))

    name = case.criterion.describe()
    if isinstance(value, np.ndarray):
        assert_close(value, to_array(their_value), rtol, f"{name}: loss values")
    else:
        expected = float(their_value)
        np.testing.assert_allclose(value, expected, rtol=rtol, atol=rtol, err_msg=f"{name}: loss")
    expected = [to_array(t.grad) if t.grad is not None else None for t in tensors]
    assert all(e is not None for e in expected), f"{name}: torch computed no input gradient"
    scale = _gradient_scale(case, G)
    for i, (grad, their) in enumerate(zip(grads, expected, strict=True)):
        assert their is not None
        assert grad.shape == their.shape and grad.dtype == their.dtype, f"{name}: input {i}"
        scale = max(scale, float(np.max(np.abs(their), initial=0.0)))
        np.testing.assert_allclose(
            grad, their, rtol=rtol, atol=rtol * scale, err_msg=f"{name}: gradient of input {i}"
        )
