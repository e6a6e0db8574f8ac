"""Gradient clipping: properties (Hypothesis), edge cases, errors, and agreement with torch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet._typing import Array
from refnet.nn import Parameter
from refnet.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm
from refnet.testing import seeds

NORM_TYPES = [1.0, 2.0, 3.0, 0.5, float("inf")]


@st.composite
def gradients(draw: st.DrawFn) -> list[Parameter]:
    rng = np.random.default_rng(draw(seeds()))
    count = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    params = []
    for _ in range(count):
        shape = tuple(rng.integers(1, 4, size=rng.integers(1, 3)))
        p = Parameter(np.zeros(shape))
        p.grad[...] = scale * rng.standard_normal(shape)
        params.append(p)
    return params


def vector_norm(arrays: list[Array], p: float) -> float:
    flat = np.concatenate([a.ravel() for a in arrays])
    if p == float("inf"):
        return float(np.max(np.abs(flat)))
    return float(np.sum(np.abs(flat) ** p) ** (1 / p))


@given(params=gradients(), norm_type=st.sampled_from(NORM_TYPES), fraction=st.floats(0.01, 2.0))
def test_clip_grad_norm_properties(
    params: list[Parameter], norm_type: float, fraction: float
) -> None:
    before = [p.grad.copy() for p in params]
    norm = vector_norm(before, norm_type)
    max_norm = fraction * norm

    returned = clip_grad_norm_(params, max_norm, norm_type=norm_type)

    assert returned == pytest.approx(norm, rel=1e-12)  # the norm before clipping
    after = [p.grad for p in params]
    assert vector_norm(after, norm_type) <= max_norm * (1 + 1e-12)
    coef = min(max_norm / (norm + 1e-6), 1.0)
    for a, b in zip(after, before, strict=True):  # the same direction, scaled once
        np.testing.assert_allclose(a, coef * b, rtol=1e-14)
    if fraction >= 1.0 + 1e-6 / norm:
        for a, b in zip(after, before, strict=True):
            np.testing.assert_array_equal(a, b)


def test_inf_norm_is_the_largest_magnitude() -> None:
    a, b = Parameter(np.zeros(3)), Parameter(np.zeros(2))
    a.grad[...] = [1.0, -7.0, 2.0]
    b.grad[...] = [3.0, 4.0]
    assert clip_grad_norm_([a, b], 3.5, norm_type="inf") == 7.0
    assert np.max(np.abs(np.concatenate([a.grad, b.grad]))) == pytest.approx(3.5, rel=1e-6)


def test_clipping_keeps_the_dtype_and_skips_frozen_parameters() -> None:
    a = Parameter(np.full(4, 3.0, dtype=np.float32))
    frozen = Parameter(np.zeros(4, dtype=np.float32), requires_grad=False)
    a.grad[...] = 3.0
    frozen.grad[...] = 100.0
    total = clip_grad_norm_([a, frozen], 1.0)
    assert total == pytest.approx(6.0)
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(frozen.grad, 100.0)
    clip_grad_value_([a, frozen], 0.1)
    np.testing.assert_array_equal(frozen.grad, 100.0)


def test_single_parameter_and_empty_inputs() -> None:
    p = Parameter(np.zeros(2))
    p.grad[...] = [3.0, 4.0]
    assert clip_grad_norm_(p, 10.0) == 5.0
    assert clip_grad_norm_([], 1.0) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((q for q in []), 1.0)


def test_only_an_empty_generator_warns() -> None:
    """As torch: an empty list is no mistake, and a generator that yields is used up
    silently (it is read into a list first)."""
    p = Parameter(np.zeros(2))
    p.grad[...] = [3.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_grad_norm_([], 1.0) == 0.0
        assert clip_grad_norm_((q for q in [p]), 10.0) == 5.0


def test_non_finite_norms() -> None:
    p = Parameter(np.zeros(2))
    p.grad[...] = [np.inf, 1.0]
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad, [np.inf, 1.0])  # nothing scaled
    p.grad[...] = [np.nan, 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(clip_grad_norm_(p, 1.0))
    assert np.isnan(p.grad).all()


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="item 1 is a ndarray"):
        clip_grad_norm_([Parameter(np.zeros(1)), np.zeros(1)], 1.0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_([Parameter(np.zeros(1))], 1.0, norm_type="fro")
    with pytest.raises(TypeError, match="item 0"):
        clip_grad_value_([1.0], 1.0)  # type: ignore[list-item]


@given(params=gradients(), clip=st.floats(0.01, 3.0))
def test_clip_grad_value_bounds_every_element(params: list[Parameter], clip: float) -> None:
    before = [p.grad.copy() for p in params]
    clip_grad_value_(params, clip)
    for p, b in zip(params, before, strict=True):
        assert np.all(np.abs(p.grad) <= clip)
        inside = np.abs(b) <= clip
        np.testing.assert_array_equal(p.grad[inside], b[inside])
        np.testing.assert_array_equal(np.sign(p.grad), np.sign(b))


def test_get_total_norm_of_arrays() -> None:
    assert get_total_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0
    assert get_total_norm(np.array([1.0, -2.0]), norm_type=1) == 3.0


@pytest.mark.parametrize("norm_type", [*NORM_TYPES, 0.0, float("-inf")])
@given(params=gradients(), fraction=st.floats(0.05, 1.5))
def test_clip_grad_norm_matches_torch(
    norm_type: float, params: list[Parameter], fraction: float
) -> None:
    torch = pytest.importorskip("torch")
    tensors = []
    for p in params:
        t = torch.zeros(p.shape, dtype=torch.float64, requires_grad=True)
        t.grad = torch.from_numpy(p.grad.copy())
        tensors.append(t)
    max_norm = fraction * vector_norm([p.grad for p in params], 2.0)
    expected = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    total = clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert total == pytest.approx(float(expected), rel=1e-10)
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-10)
    for p, t in zip(params, tensors, strict=True):
        p.grad[...] = t.grad.numpy()
    torch.nn.utils.clip_grad_value_(tensors, 0.1)
    clip_grad_value_(params, 0.1)
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


@pytest.mark.parametrize("max_norm", [0.0, -1.0, float("nan")])
def test_a_max_norm_that_is_not_positive_is_refused(max_norm: float) -> None:
    p = Parameter(np.ones(3))
    p.grad[...] = 1.0
    with pytest.raises(ValueError, match="max_norm must be positive"):
        clip_grad_norm_([p], max_norm)
    np.testing.assert_array_equal(p.grad, np.ones(3))
