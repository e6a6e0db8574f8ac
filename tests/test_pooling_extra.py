"""The pooling additions of issue 16 against torch: AdaptiveAvgPool1d / AdaptiveMaxPool1d,
``return_indices`` of the max pools, MaxUnpool1d/2d and LPPool1d/2d, their functional
forms and ``*_backward`` siblings (float64, torch's autograd as the reference).
The generic properties come from tests/cases/pooling.py."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from tests.cases.registry import ModuleCase
from tests.torch_utils import check_module_against_torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _torch_grad(fn: Any, x: np.ndarray[Any, Any], g: np.ndarray[Any, Any]) -> Any:
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y = y[0] if isinstance(y, tuple) else y
    y.backward(torch.from_numpy(g))
    return t.grad.numpy()


@given(seed=st.integers(0, 2**16), length=st.integers(1, 9), out=st.integers(1, 9))
def test_adaptive_1d_pools_and_their_backwards_match_torch(
    seed: int, length: int, out: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 3 * length).reshape(2, 3, length) / 7.0  # no ties
    g = rng.normal(size=(2, 3, out))
    np.testing.assert_allclose(
        F.adaptive_avg_pool1d(x, out), TF.adaptive_avg_pool1d(torch.tensor(x), out)
    )
    np.testing.assert_allclose(
        F.adaptive_avg_pool1d_backward(g, x, out),
        _torch_grad(lambda t: TF.adaptive_avg_pool1d(t, out), x, g),
    )
    y, idx = F.adaptive_max_pool1d(x, out, return_indices=True)
    ty, tidx = TF.adaptive_max_pool1d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    assert idx.dtype == np.int64
    np.testing.assert_allclose(
        F.adaptive_max_pool1d_backward(g, x, out),
        _torch_grad(lambda t: TF.adaptive_max_pool1d(t, out), x, g),
    )


@given(
    seed=st.integers(0, 2**16),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 1),
    dilation=st.integers(1, 2),
    ceil_mode=st.booleans(),
    size=st.tuples(st.integers(5, 7), st.integers(5, 7)),  # holds a dilated window
)
def test_max_pool_indices_and_unpooling_match_torch(
    seed: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool, size: Any
) -> None:
    padding = min(padding, kernel // 2)
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 2 * size[0] * size[1]).reshape(2, 2, *size) / 5.0
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=True, ceil_mode=ceil_mode)
    tpool = torch.nn.MaxPool2d(kernel, stride, padding, dilation, True, ceil_mode)
    y, idx = pool(x)
    ty, tidx = tpool(torch.tensor(x))
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    if kernel > stride or dilation > 1 or ceil_mode or padding:
        return  # overlapping windows can repeat an index; unpooling is then torch's race
    unpool = nn.MaxUnpool2d(kernel, stride, padding)
    u = unpool(y, idx, output_size=x.shape)
    np.testing.assert_array_equal(u, TF.max_unpool2d(ty, tidx, kernel, stride, padding, x.shape))
    g = rng.normal(size=u.shape)
    tin = ty.clone().requires_grad_()
    TF.max_unpool2d(tin, tidx, kernel, stride, padding, x.shape).backward(torch.from_numpy(g))
    np.testing.assert_array_equal(unpool.backward(g), tin.grad)
    np.testing.assert_array_equal(
        F.max_unpool2d_backward(g, y, idx, kernel, stride, padding, x.shape), tin.grad
    )


def test_max_unpool1d_and_its_backward_match_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 8))
    ty, tidx = TF.max_pool1d(torch.tensor(x), 2, return_indices=True)
    y, idx = F.max_pool1d(x, 2), nn.MaxPool1d(2, return_indices=True)(x)[1]
    np.testing.assert_array_equal(idx, tidx)
    u = F.max_unpool1d(y, idx, 2)
    np.testing.assert_array_equal(u, TF.max_unpool1d(ty, tidx, 2))
    g = rng.normal(size=u.shape)
    np.testing.assert_array_equal(
        F.max_unpool1d_backward(g, y, idx, 2),
        g.reshape(2, 3, -1)[np.arange(2)[:, None, None], np.arange(3)[None, :, None], idx],
    )


@pytest.mark.parametrize("norm_type", [1, 2, 3, 1.5])
@pytest.mark.parametrize(
    ("kernel", "stride", "ceil_mode"), [(2, None, False), ((2, 3), (1, 2), True), (3, 2, True)]
)
def test_lp_pools_and_their_backwards_match_torch(
    norm_type: float, kernel: Any, stride: Any, ceil_mode: bool
) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 2.0, size=(2, 3, 5, 7))
    args = (norm_type, kernel, stride, ceil_mode)
    np.testing.assert_allclose(
        F.lp_pool2d(x, *args), TF.lp_pool2d(torch.tensor(x), *args), rtol=1e-12
    )
    g = rng.normal(size=F.lp_pool2d(x, *args).shape)
    np.testing.assert_allclose(
        F.lp_pool2d_backward(g, x, *args),
        _torch_grad(lambda t: TF.lp_pool2d(t, *args), x, g),
        rtol=1e-10,
    )
    k1 = kernel if isinstance(kernel, int) else kernel[1]
    s1 = stride if stride is None or isinstance(stride, int) else stride[1]
    x1 = x[:, :, 0]
    args1 = (norm_type, k1, s1, ceil_mode)
    np.testing.assert_allclose(
        F.lp_pool1d(x1, *args1), TF.lp_pool1d(torch.tensor(x1), *args1), rtol=1e-12
    )
    g1 = rng.normal(size=F.lp_pool1d(x1, *args1).shape)
    np.testing.assert_allclose(
        F.lp_pool1d_backward(g1, x1, *args1),
        _torch_grad(lambda t: TF.lp_pool1d(t, *args1), x1, g1),
        rtol=1e-10,
    )


def test_lp_pool_of_a_negative_sum_is_nan_as_in_torch() -> None:
    x = -np.ones((1, 1, 4))
    y = nn.LPPool1d(1, 2)(x)
    assert np.isnan(y).all() == bool(torch.isnan(TF.lp_pool1d(torch.tensor(x), 1, 2)).all())
    np.testing.assert_array_equal(nn.LPPool1d(2, 2)(x), TF.lp_pool1d(torch.tensor(x), 2, 2))


def test_reprs_and_stored_arguments_are_torchs() -> None:
    pairs = [
        (nn.MaxUnpool2d(2), torch.nn.MaxUnpool2d(2)),
        (nn.MaxUnpool1d(3, 2, 1), torch.nn.MaxUnpool1d(3, 2, 1)),
        (nn.LPPool2d(2, 3), torch.nn.LPPool2d(2, 3)),
        (nn.LPPool1d(1.5, 3, 2, True), torch.nn.LPPool1d(1.5, 3, 2, True)),
        (nn.AdaptiveAvgPool1d(4), torch.nn.AdaptiveAvgPool1d(4)),
        (nn.AdaptiveMaxPool1d(4, True), torch.nn.AdaptiveMaxPool1d(4, True)),
        (nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        for name in (
            "kernel_size",
            "stride",
            "padding",
            "norm_type",
            "output_size",
            "return_indices",
        ):
            if hasattr(theirs, name):
                assert getattr(ours, name) == getattr(theirs, name), (type(ours).__name__, name)


def test_unpooling_refuses_bad_indices_and_sizes() -> None:
    unpool = nn.MaxUnpool2d(2)
    x = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError, match="invalid max index"):
        unpool(x, np.full((1, 1, 2, 2), 16))
    with pytest.raises(TypeError, match="indices must be integers"):
        unpool(x, np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="indices of its shape"):
        unpool(x, np.zeros((1, 1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="invalid output_size"):
        unpool(x, np.zeros((1, 1, 2, 2), dtype=np.int64), output_size=(9, 9))


@st.composite
def windows3d(draw: st.DrawFn) -> tuple[Any, ...]:
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    s = tuple(draw(st.integers(1, 2)) for _ in range(3))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    sizes = tuple(draw(st.integers(dd * (kk - 1) + 1, 5)) for kk, dd in zip(k, d, strict=True))
    return k, s, p, d, sizes


@given(
    window=windows3d(),
    seed=st.integers(0, 2**16),
    ceil_mode=st.booleans(),
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, 2]),
    out=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
)
def test_3d_pools_and_their_backwards_match_torch(
    window: Any,
    seed: int,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    out: Any,
) -> None:
    k, s, p, d, sizes = window
    rng = np.random.default_rng(seed)
    x = rng.permutation(2 * 2 * int(np.prod(sizes))).reshape(2, 2, *sizes) / 3.0
    y, idx = F.max_pool3d(x, k, s, p, d, ceil_mode, return_indices=True)
    ty, tidx = TF.max_pool3d(torch.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(
        F.max_pool3d_backward(g, x, k, s, p, d, ceil_mode),
        _torch_grad(lambda t: TF.max_pool3d(t, k, s, p, d, ceil_mode), x, g),
    )
    avg_args = (k, s, p, ceil_mode, count_include_pad, divisor_override)
    if all(n >= kk for n, kk in zip(sizes, k, strict=True)):
        y = F.avg_pool3d(x, *avg_args)
        np.testing.assert_allclose(
            y, TF.avg_pool3d(torch.tensor(x), *avg_args), rtol=1e-12, atol=1e-14
        )
        g = rng.normal(size=y.shape)
        np.testing.assert_allclose(
            F.avg_pool3d_backward(g, x, *avg_args),
            _torch_grad(lambda t: TF.avg_pool3d(t, *avg_args), x, g),
            rtol=1e-12,
            atol=1e-14,
        )
    y, idx = F.adaptive_max_pool3d(x, out, return_indices=True)
    ty, tidx = TF.adaptive_max_pool3d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(
        F.adaptive_max_pool3d_backward(g, x, out),
        _torch_grad(lambda t: TF.adaptive_max_pool3d(t, out), x, g),
    )
    np.testing.assert_allclose(
        F.adaptive_avg_pool3d(x, out), TF.adaptive_avg_pool3d(torch.tensor(x), out), rtol=1e-12
    )
    np.testing.assert_allclose(
        F.adaptive_avg_pool3d_backward(g, x, out),
        _torch_grad(lambda t: TF.adaptive_avg_pool3d(t, out), x, g),
        rtol=1e-12,
        atol=1e-14,
    )


def test_max_pool3d_then_unpool3d_matches_torch() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 2, 4, 4, 6))
    y, idx = nn.MaxPool3d(2, return_indices=True)(x)
    ty, tidx = torch.nn.MaxPool3d(2, return_indices=True)(torch.tensor(x))
    u = nn.MaxUnpool3d(2)(y, idx)
    np.testing.assert_array_equal(u, torch.nn.MaxUnpool3d(2)(ty, tidx))
    np.testing.assert_array_equal(
        F.max_unpool3d(y, idx, 2), torch.nn.functional.max_unpool3d(ty, tidx, 2)
    )


def test_avg_pool3d_refuses_an_input_smaller_than_its_kernel_as_torch() -> None:
    x = np.zeros((1, 1, 2, 2, 1))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        nn.AvgPool3d((1, 1, 2), padding=(0, 0, 1))(x)
    with pytest.raises(RuntimeError, match="smaller than kernel"):
        torch.nn.AvgPool3d((1, 1, 2), padding=(0, 0, 1))(torch.tensor(x))


def test_3d_functional_forms_take_torchs_defaults_and_unbatched_input() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 5, 4, 5))  # unbatched (C, D, H, W)
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(F.max_pool3d(x, 2), TF.max_pool3d(t, 2))
    y, idx = F.max_pool3d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx, TF.max_pool3d(t, 2, return_indices=True)[1])
    np.testing.assert_allclose(F.avg_pool3d(x, 2), TF.avg_pool3d(t, 2), rtol=1e-12)
    np.testing.assert_allclose(F.adaptive_avg_pool3d(x, 2), TF.adaptive_avg_pool3d(t, 2))
    np.testing.assert_array_equal(F.adaptive_max_pool3d(x, 3), TF.adaptive_max_pool3d(t, 3))
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(
        F.max_pool3d_backward(g, x, 2), _torch_grad(lambda a: TF.max_pool3d(a, 2), x, g)
    )
    np.testing.assert_allclose(
        F.avg_pool3d_backward(g, x, 2), _torch_grad(lambda a: TF.avg_pool3d(a, 2), x, g)
    )
    g = rng.normal(size=(2, 2, 2, 2))
    np.testing.assert_allclose(
        F.adaptive_avg_pool3d_backward(g, x, 2),
        _torch_grad(lambda a: TF.adaptive_avg_pool3d(a, 2), x, g),
    )
    np.testing.assert_allclose(
        F.adaptive_max_pool3d_backward(g, x, 2),
        _torch_grad(lambda a: TF.adaptive_max_pool3d(a, 2), x, g),
    )


def test_3d_max_pools_pick_the_first_of_tied_maxima_as_torch() -> None:
    x = np.zeros((1, 1, 3, 3, 4))
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(
        F.max_pool3d(x, 2, 1, return_indices=True)[1],
        TF.max_pool3d(t, 2, 1, return_indices=True)[1],
    )
    np.testing.assert_array_equal(
        F.adaptive_max_pool3d(x, (2, 2, 3), return_indices=True)[1],
        TF.adaptive_max_pool3d(t, (2, 2, 3), return_indices=True)[1],
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: F.max_pool3d(x, (2, 2)), "tuple of 3 ints"),
        (lambda x: F.max_pool3d(x, (2, 2, 2.5)), "tuple of 3 ints"),
        (lambda x: F.max_pool3d(x, 2, padding=-1), "padding must be between"),
        (lambda x: F.max_pool3d(x, 2, padding=2), "padding must be between"),
        (lambda x: F.max_pool3d(x[0, 0], 2), "non-empty"),
        (lambda x: F.max_pool3d(x[:, :, :0], 2), "non-empty"),
        (lambda x: F.adaptive_avg_pool3d(x, (2, 2)), "output_size must be"),
        (lambda x: F.adaptive_max_pool3d(x, (2, 2, -1)), "output_size must be"),
        (lambda x: F.max_pool3d(x, 5), "too small"),
    ],
)
def test_3d_pools_refuse_bad_arguments(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call(np.zeros((1, 2, 3, 3, 3)))


@pytest.mark.parametrize("padding", [0, 1])
def test_3d_ceil_mode_windows_that_overhang_the_input_match_torch(padding: int) -> None:
    """4 elements, windows of 3 with stride 2 in ceil mode: the last window starts at 2
    and needs one element past the input (or past the padding)."""
    rng = np.random.default_rng(11)
    x = rng.permutation(2 * 4 * 4 * 5).reshape(1, 2, 4, 4, 5) / 7.0
    t = torch.from_numpy(x)
    args = (3, 2, padding)
    y, idx = F.max_pool3d(x, *args, ceil_mode=True, return_indices=True)
    ty, tidx = TF.max_pool3d(t, *args, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, tidx)
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(
        F.max_pool3d_backward(g, x, *args, ceil_mode=True),
        _torch_grad(lambda a: TF.max_pool3d(a, *args, ceil_mode=True), x, g),
    )
    for include in (True, False):
        y = F.avg_pool3d(x, *args, ceil_mode=True, count_include_pad=include)
        np.testing.assert_allclose(
            y, TF.avg_pool3d(t, *args, ceil_mode=True, count_include_pad=include), rtol=1e-12
        )
        np.testing.assert_allclose(
            F.avg_pool3d_backward(g, x, *args, ceil_mode=True, count_include_pad=include),
            _torch_grad(
                lambda a, i=include: TF.avg_pool3d(a, *args, ceil_mode=True, count_include_pad=i),
                x,
                g,
            ),
            rtol=1e-12,
            atol=1e-14,
        )


@pytest.mark.parametrize("norm", [math.inf, -math.inf, 2.0, 1.5, 1.0], ids=str)
def test_lp_pool3d_against_torch_at_every_norm_kind(norm: float) -> None:
    """Each branch of LPPool3d once: ±∞ (max pooling of |x|, signs mixed) and finite
    norms, with a window of zeros (gradient 0, as torch's) and, for p = 1, one whose sum
    is exactly 1."""
    rng = np.random.default_rng(int(norm) if math.isfinite(norm) else 7)
    x = rng.uniform(0.5, 2.0, size=(1, 2, 4, 4, 4))
    if math.isinf(norm):
        x *= rng.choice([-1.0, 1.0], size=x.shape)
    x[0, 0, :2, :2, :2] = 0.0
    x[0, 1, :2, :2, :2] = 0.125
    check_module_against_torch(ModuleCase(nn.LPPool3d(norm, 2), x), np.float64)
