"""F.interpolate / interpolate_backward and the Upsample layers: against torch, against the
reference loops, PyTorch's source-position rules, and the errors.

The generic properties (gradient check, torch agreement of the modules) come from
tests/cases/upsampling.py; here the functional form is compared with
``torch.nn.functional.interpolate`` and its autograd over drawn modes, ranks, sizes,
factors (integer and not), ``align_corners`` and ``recompute_scale_factor``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.nn.functional import upsampling as U
from tests.cases.upsampling import FACTORS, torch_backward_disagrees

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RANK = {"linear": 1, "bilinear": 2, "trilinear": 3}


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray[Any, Any], dict[str, Any]]:
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "trilinear"]))
    k = RANK.get(mode) or draw(st.integers(1, 3))
    kwargs: dict[str, Any] = {"mode": mode}
    if draw(st.booleans()):
        sizes = tuple(draw(st.integers(1, 5)) for _ in range(k))
        kwargs["size"] = tuple(draw(st.integers(1, 9)) for _ in range(k))
    else:
        factors = tuple(draw(st.sampled_from(FACTORS)) for _ in range(k))
        sizes = tuple(draw(st.integers(2 if f < 1 else 1, 5)) for f in factors)
        kwargs["scale_factor"] = factors
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
    if not mode.startswith("nearest"):
        kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).normal(size=(2, 2, *sizes))
    return x, kwargs


def _torch_run(x: np.ndarray[Any, Any], g: np.ndarray[Any, Any], kwargs: dict[str, Any]) -> Any:
    t = torch.tensor(x, requires_grad=True)
    y = TF.interpolate(t, **kwargs)
    y.backward(torch.from_numpy(g))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(problem=problems(), seed=st.integers(0, 2**16))
def test_interpolate_and_its_backward_match_torch(
    dtype: type[np.floating[Any]], problem: Any, seed: int
) -> None:
    x, kwargs = problem
    x = x.astype(dtype)
    y = F.interpolate(x, **kwargs)
    g = np.random.default_rng(seed).normal(size=y.shape).astype(dtype)
    ty, tdx = _torch_run(x, g, kwargs)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dtype and y.shape == ty.shape
    np.testing.assert_allclose(y, ty, rtol=tol, atol=tol)  # nearest: exactly the same picks
    dx = F.interpolate_backward(g, x, **kwargs)
    assert dx.dtype == dtype
    factors = kwargs.get("scale_factor")
    if (
        kwargs["mode"] == "nearest"
        and factors is not None
        and not kwargs["recompute_scale_factor"]
        and torch_backward_disagrees(x.shape[2:], factors, x.ndim - 2)
    ):
        # torch's gradient is not its own forward's adjoint here (next test); ours is.
        np.testing.assert_allclose(dx, _adjoint(x, y, g), rtol=tol, atol=tol)
    else:
        np.testing.assert_allclose(dx, tdx, rtol=tol, atol=tol)


def _adjoint(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], g: np.ndarray[Any, Any]) -> Any:
    """∂/∂x of Σ y·g for a nearest resize of an input whose values are all distinct:
    each output's gradient goes to the element whose value it copied."""
    flat_x = x.reshape(x.shape[0] * x.shape[1], -1)
    dx = np.zeros_like(flat_x)
    for plane, (xs, ys, gs) in enumerate(
        zip(flat_x, y.reshape(len(flat_x), -1), g.reshape(len(flat_x), -1), strict=True)
    ):
        for value, grad in zip(ys, gs, strict=True):
            dx[plane, int(np.flatnonzero(xs == value)[0])] += grad
    return dx.reshape(x.shape)


@pytest.mark.parametrize("rank", [1, 3])
def test_torchs_1d_and_3d_nearest_backward_is_not_its_forwards_adjoint(rank: int) -> None:
    """PyTorch 2.13 CPU: with scale_factor=2.1 on 3 elements (6 outputs, twice the input),
    the forward reads ⌊o / 2.1⌋ = 0, 0, 0, 1, 1, 2 and the backward sends output o's
    gradient to ⌊o / 2⌋ = 0, 0, 1, 1, 2, 2. refnet's backward is the forward's adjoint;
    this test fails (and the steering in tests/cases/upsampling.py can go) once torch's
    two agree."""
    shape = (1, 1, *([1] * (rank - 1)), 3)
    factors = (*([1.0] * (rank - 1)), 2.1)
    x = np.arange(3.0).reshape(shape)
    g = np.arange(6.0).reshape((*shape[:-1], 6))
    y, torch_dx = _torch_run(x, g, {"scale_factor": factors})
    np.testing.assert_array_equal(y.reshape(-1), [0, 0, 0, 1, 1, 2])
    np.testing.assert_array_equal(F.interpolate(x, scale_factor=factors), y)
    ours = F.interpolate_backward(g, x, scale_factor=factors)
    np.testing.assert_array_equal(ours.reshape(-1), [0 + 1 + 2, 3 + 4, 5])
    np.testing.assert_array_equal(torch_dx.reshape(-1), [0 + 1, 2 + 3, 4 + 5])


def test_scale_factor_and_size_read_different_positions() -> None:
    """5 elements: scale_factor=2.1 and size=10 give the same output size, but the first
    samples o / 2.1 and the second o / 2 (here in 2-d, where torch's kernel copies
    every element twice when the size doubles exactly: the shortcut of that kernel)."""
    x = np.arange(5.0).reshape(1, 1, 5)
    by_factor = F.interpolate(x, scale_factor=2.1, mode="linear")
    by_size = F.interpolate(x, size=10, mode="linear")
    recomputed = F.interpolate(x, scale_factor=2.1, mode="linear", recompute_scale_factor=True)
    assert by_factor.shape == by_size.shape == (1, 1, 10)
    assert not np.allclose(by_factor, by_size)
    np.testing.assert_array_equal(recomputed, by_size)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(by_factor, TF.interpolate(t, scale_factor=2.1, mode="linear"))
    np.testing.assert_allclose(by_size, TF.interpolate(t, size=10, mode="linear"))


@given(problem=problems(), seed=st.integers(0, 2**16))
def test_the_fast_kernel_equals_the_reference_loops(problem: Any, seed: int) -> None:
    x, kwargs = problem
    plan = U.interpolate_plan(x.shape, x.dtype, **kwargs)
    y = U.interpolate_apply(x, plan)
    np.testing.assert_allclose(y, U.interpolate_reference(x, plan), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(seed).normal(size=y.shape)
    np.testing.assert_allclose(
        U.interpolate_gradient(g, plan),
        U.interpolate_backward_reference(g, plan),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"size": 4, "mode": "nearest", "align_corners": True}, ValueError, "align_corners"),
        ({"size": 4, "scale_factor": 2.0}, ValueError, "only one of size or scale_factor"),
        ({}, ValueError, "either size or scale_factor"),
        ({"size": (4, 4, 4)}, ValueError, "same number of spatial dimensions"),
        ({"scale_factor": (2.0,)}, ValueError, "same number of spatial dimensions"),
        ({"size": 4, "recompute_scale_factor": True}, ValueError, "not meaningful"),
        ({"size": 4, "mode": "linear"}, NotImplementedError, "linear mode needs 3D input"),
        ({"size": 4, "mode": "trilinear"}, ValueError, "trilinear mode needs 5D input"),
        ({"size": 4, "mode": "cubic"}, ValueError, "mode must be one of"),
        ({"scale_factor": 0.1}, ValueError, "greater than 0"),
        ({"scale_factor": -2.0}, ValueError, "positive"),
        ({"size": (2.5, 3)}, TypeError, "size must be"),
    ],
)
def test_bad_arguments_are_refused_as_torch_refuses_them(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    x = np.zeros((1, 2, 3, 3))
    with pytest.raises(error, match=match):
        F.interpolate(x, **kwargs)
    with pytest.raises(Exception):  # noqa: B017 - torch's kinds vary (ValueError, RuntimeError)
        TF.interpolate(torch.from_numpy(x), **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{"size": 4, "mode": "bicubic"}, {"size": 4, "mode": "bilinear", "antialias": True}]
)
def test_what_refnet_lacks_is_refused_as_not_implemented(kwargs: dict[str, Any]) -> None:
    with pytest.raises(NotImplementedError, match="not implemented in refnet"):
        F.interpolate(np.zeros((1, 2, 3, 3)), **kwargs)


def test_the_layers_name_themselves_in_errors_and_keep_torchs_attributes() -> None:
    layer = nn.Upsample(scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"Upsample\(scale_factor=2.0, mode='bilinear'\)"):
        layer(np.zeros((1, 2, 3)))
    for ours, theirs in [
        (nn.Upsample(size=(3, 4)), torch.nn.Upsample(size=(3, 4))),
        (nn.Upsample(scale_factor=(2, 1.5)), torch.nn.Upsample(scale_factor=(2, 1.5))),
        (nn.UpsamplingNearest2d(scale_factor=2), torch.nn.UpsamplingNearest2d(scale_factor=2)),
        (nn.UpsamplingBilinear2d(size=5), torch.nn.UpsamplingBilinear2d(size=5)),
    ]:
        assert repr(ours) == repr(theirs)
        for name in ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"):
            assert getattr(ours, name) == getattr(theirs, name), name


def test_upsampling_bilinear2d_aligns_the_corners() -> None:
    x = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
    y = nn.UpsamplingBilinear2d(size=3)(x)
    np.testing.assert_allclose(y[0, 0], [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
    assert nn.UpsamplingBilinear2d(size=3).align_corners is True


@pytest.mark.parametrize(
    "shape", [(0, 2, 3, 3), (1, 0, 3, 3), (1, 2, 0, 3), (1, 2, 3, 0), (1, 2, 0, 0)]
)
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_empty_inputs_are_handled_as_torch_handles_them(shape: tuple[int, ...], mode: str) -> None:
    """An empty batch gives an empty output of torch's shape; empty channels or spatial
    axes are refused, as torch refuses them."""
    x = np.zeros(shape)
    try:
        expected = tuple(TF.interpolate(torch.from_numpy(x), size=4, mode=mode).shape)
    except RuntimeError:
        with pytest.raises(ValueError, match="greater than 0"):
            F.interpolate(x, size=4, mode=mode)
        return
    assert F.interpolate(x, size=4, mode=mode).shape == expected


@pytest.mark.parametrize(
    ("mode", "factor"),
    [
        ("nearest", 0.75),
        ("nearest", 1.3),
        ("nearest", 2.1),
        ("nearest-exact", 0.75),
        ("nearest-exact", 0.9),
        ("nearest-exact", 1.3),
        ("linear", 0.75),
        ("linear", 0.9),
        ("linear", 1.3),
        ("linear", 2.1),
    ],
)
def test_a_factor_reads_other_positions_than_the_size_it_gives(mode: str, factor: float) -> None:
    """5 elements: the factor sets the step 1/factor, the size it gives (⌊5·factor⌋)
    another step 5/m; both are torch's, and here they pick different elements."""
    x = np.arange(5.0).reshape(1, 1, 5) ** 2
    by_factor = F.interpolate(x, scale_factor=factor, mode=mode)
    by_size = F.interpolate(x, size=by_factor.shape[-1], mode=mode)
    t = torch.from_numpy(x)
    np.testing.assert_allclose(by_factor, TF.interpolate(t, scale_factor=factor, mode=mode))
    np.testing.assert_allclose(by_size, TF.interpolate(t, size=by_factor.shape[-1], mode=mode))
    assert not np.allclose(by_factor, by_size)
