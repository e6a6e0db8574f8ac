"""Every fast kernel equals the plain reference kernel beside it (a second oracle).

The references (``*_reference`` in refnet.nn.functional.conv, .pooling and
.normalization) are the textbook loops; the fast kernels chunk, reuse buffers, cut
products for OpenBLAS, run in blocks of planes or channels, use the (C, H, W, N) layout
and, for 2x2 max-pooling, have three paths. Here Hypothesis draws shapes and options
(stride, padding on each side, dilation, groups, padding modes, ceil mode, divisors,
layouts, ties) and each fast path, called by name as well as through its dispatch, must
give the reference's outputs and gradients: float64 to ~1e-12 for the sums, exactly for
the selections (max-pooling routes, in float32 too).

``machinery`` shrinks the fast kernels' size thresholds (conv's row chunks, the
OpenBLAS pieces of refnet._blas, the blocks of refnet._parallel) so that small test
shapes take the many-chunk, many-piece and many-block branches that large shapes take.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import refnet._blas
import refnet._parallel
import refnet.nn.functional.conv as C
import refnet.nn.functional.normalization as Nm
import refnet.nn.functional.pooling as P
from refnet._typing import Array

RTOL, ATOL = 1e-11, 1e-12


def close(actual: Array | None, expected: Array) -> None:
    assert actual is not None
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@contextmanager
def machinery(tiny: bool) -> Iterator[None]:
    """With ``tiny``, every size threshold of the fast kernels at its smallest."""
    with pytest.MonkeyPatch.context() as mp:
        if tiny:
            mp.setattr(C, "CHUNK_BYTES", 1)  # one output row per chunk
            mp.setattr(refnet._blas, "SMALL_PRODUCT", 16)  # skinny products in pieces
            mp.setattr(refnet._blas, "MIN_PIECE", 1)
            mp.setattr(refnet._blas, "OUTER_BYTES", 1 << 30)
            mp.setattr(refnet._parallel, "MIN_ELEMENTS", 1)  # blocks of channels/planes
            mp.setattr(refnet._parallel, "BLOCK_BYTES", 64)
        yield


def layout(x: Array, order: tuple[int, ...]) -> Array:
    """``x`` with the same values, its memory laid out in axis ``order``."""
    return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))


LAYOUTS_4D = [(0, 1, 2, 3), (1, 2, 3, 0), (0, 2, 3, 1), (1, 0, 2, 3)]


# ---------------------------------------------------------------------- convolution


@dataclass
class ConvProblem:
    x: Array
    weight: Array
    bias: Array | None
    geometry: C.ConvGeometry
    tiny: bool


@st.composite
def conv_problems(
    draw: st.DrawFn, grouped: bool, bias: bool, tiny: bool, transposed: bool = False
) -> ConvProblem:
    groups = draw(st.integers(2, 3)) if grouped else 1
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = "zeros" if transposed else draw(st.sampled_from(C.PADDING_MODES))
    if transposed:  # symmetric, as PyTorch's transposed convolution
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        padding = (ph, ph, pw, pw)
    else:  # any sides ('same' padding is asymmetric)
        padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    geometry = C.ConvGeometry(kernel, stride, padding, dilation, groups, mode)  # type: ignore[arg-type]
    low = [
        max(
            1,
            geometry.dilated_kernel[a] - padding[2 * a] - padding[2 * a + 1],
            *padding[2 * a : 2 * a + 2],
        )
        + (mode == "reflect")
        for a in range(2)
    ]
    H, W = draw(st.integers(low[0], low[0] + 4)), draw(st.integers(low[1], low[1] + 4))
    N = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if transposed:
        x = rng.normal(size=(N, c_in, H, W))
        weight = rng.normal(size=(c_in, c_out // groups, *kernel))
    else:
        x = rng.normal(size=(N, c_in, H, W))
        weight = rng.normal(size=(c_out, c_in // groups, *kernel))
    x = layout(x, draw(st.sampled_from(LAYOUTS_4D)))
    b = rng.normal(size=c_out) if bias else None
    return ConvProblem(x, weight, b, geometry, tiny)


# Each branch of the fast kernels gets its own examples: one group or several (the bias
# as a row of ones, or added), with or without a bias, the size thresholds as they are
# or at their smallest, and each of the input gradient's two fast paths.
BRANCHES = pytest.mark.parametrize(
    ("grouped", "bias", "tiny"),
    [(g, b, t) for g in (False, True) for b in (True, False) for t in (False, True)],
)
PATHS = pytest.mark.parametrize("path", ["taps", "columns"])


def conv_path(mp: pytest.MonkeyPatch, path: str) -> None:
    """Move the dispatch's threshold so that it takes ``path`` (taps: one group only)."""
    mp.setattr(C, "SMALL_PRODUCT", 1 << 60 if path == "taps" else 0)


@BRANCHES
@PATHS
@given(data=st.data())
def test_conv2d_forward_and_backward_equal_the_reference(
    grouped: bool, bias: bool, tiny: bool, path: str, data: st.DataObject
) -> None:
    """conv2d_forward (im2col chunks, reused columns, bias row of ones) and
    conv2d_backward through each fast path of the input gradient (tap by tap, or
    column chunks and col2im: the dispatch's threshold moved), against the loops."""
    p = data.draw(conv_problems(grouped, bias, tiny))
    g = p.geometry
    expected = C.conv2d_reference(p.x, p.weight, p.bias, g)
    rng = np.random.default_rng(0)
    grad = rng.normal(size=expected.shape)
    ref_dx, ref_dw, ref_db = C.conv2d_backward_reference(grad, p.x, p.weight, g)
    with machinery(p.tiny), pytest.MonkeyPatch.context() as mp:
        conv_path(mp, path)
        # A stale cache's memory is reused: fill it with garbage first.
        stale = C.ConvCache(np.full(10**4, np.nan), p.x.shape, (0, 0), g)  # type: ignore[arg-type]
        y, cache = C.conv2d_forward(p.x, p.weight, p.bias, g, reuse=stale)
        close(y, expected)
        dx, dw, db = C.conv2d_backward(grad, p.weight, cache, bias_grad=p.bias is not None)
    close(dx, ref_dx)
    close(dw, ref_dw)
    if p.bias is not None:
        close(db, ref_db)


@BRANCHES
@PATHS
@given(data=st.data())
def test_conv_transpose2d_forward_and_backward_equal_the_reference(
    grouped: bool, bias: bool, tiny: bool, path: str, data: st.DataObject
) -> None:
    p = data.draw(conv_problems(grouped, bias, tiny, transposed=True))
    g = p.geometry
    output_padding = tuple(
        data.draw(st.integers(0, max(0, max(s, d) - 1)))
        for s, d in zip(g.stride, g.dilation, strict=True)
    )
    op = (output_padding[0], output_padding[1])
    ho, wo = C.conv_transpose_output_size(p.x.shape[2], p.x.shape[3], g, op)
    assume(ho >= 1 and wo >= 1)  # an empty output is refused by the layer
    expected = C.conv_transpose2d_reference(p.x, p.weight, p.bias, g, op)
    grad = np.random.default_rng(1).normal(size=expected.shape)
    ref_dx, ref_dw, ref_db = C.conv_transpose2d_backward_reference(grad, p.x, p.weight, g, op)
    with machinery(p.tiny), pytest.MonkeyPatch.context() as mp:
        conv_path(mp, path)
        y, cache = C.conv_transpose2d_forward(p.x, p.weight, p.bias, g, op)
        close(y, expected)
        dx, dw, db = C.conv_transpose2d_backward(grad, p.weight, cache, bias_grad=bias)
    close(dx, ref_dx)
    close(dw, ref_dw)
    if bias:
        close(db, ref_db)


@given(
    N=st.integers(1, 2),
    C_=st.integers(1, 2),
    H=st.integers(3, 6),
    W=st.integers(3, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_functional_conv_api_equals_the_reference(
    N: int, C_: int, H: int, W: int, seed: int
) -> None:
    """F.conv2d & co. (forward only): PyTorch's defaults, unbatched inputs, 'same'
    padding, conv1d as a 2-d convolution over a height of 1."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 2 * C_, H, W))
    w = rng.normal(size=(3, 2 * C_, 3, 2))
    b = rng.normal(size=3)
    plain = C.ConvGeometry((3, 2))  # the defaults: stride 1, no padding, one group
    close(C.conv2d(x, w, b), C.conv2d_reference(x, w, b, plain))
    close(C.conv2d(x, w, b, padding="valid"), C.conv2d_reference(x, w, b, plain))
    same = C.ConvGeometry((3, 2), padding=C.same_padding((3, 2), (1, 2)), dilation=(1, 2))
    close(
        C.conv2d(x[0], w, None, padding="same", dilation=(1, 2)),
        C.conv2d_reference(x, w, None, same)[0],
    )
    grouped = C.ConvGeometry((3, 2), (2, 1), (1, 1, 0, 0), groups=2) if C_ == 1 else None
    if grouped is not None:
        w2 = rng.normal(size=(4, 1, 3, 2))
        close(C.conv2d(x, w2, None, (2, 1), (1, 0), 1, 2), C.conv2d_reference(x, w2, None, grouped))
    line, w1 = x[:, :, 0], w[:, :, 0]  # (N, C, W), (O, C, 2)
    close(
        C.conv1d(line, w1, b),
        C.conv2d_reference(line[:, :, None], w1[:, :, None], b, C.ConvGeometry((1, 2)))[:, :, 0],
    )
    one_d = C.ConvGeometry((1, 2), (1, 2), (0, 0, 1, 1), (1, 2))
    close(
        C.conv1d(line, w1, None, 2, 1, 2),
        C.conv2d_reference(line[:, :, None], w1[:, :, None], None, one_d)[:, :, 0],
    )
    wt = rng.normal(size=(2 * C_, 3, 3, 2))
    close(C.conv_transpose2d(x, wt, b), C.conv_transpose2d_reference(x, wt, b, plain, (0, 0)))
    strided = C.ConvGeometry((3, 2), (2, 2), (1, 1, 1, 1), (1, 2))
    close(
        C.conv_transpose2d(x[0], wt, None, 2, 1, 1, 1, (1, 2)),
        C.conv_transpose2d_reference(x, wt, None, strided, (1, 1))[0],
    )


# ---------------------------------------------------------------------- pooling


def tied_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> Array:
    """Small integers: many windows hold their maximum more than once (the tie rule)."""
    return rng.integers(-2, 3, size=shape).astype(dtype)


@st.composite
def pool_problems(draw: st.DrawFn, dilation: bool = True) -> tuple[Array, P.PoolGeometry]:
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    geometry = P.PoolGeometry(kernel, stride, padding, dil, draw(st.booleans()))
    low = [dil[a] * (kernel[a] - 1) + 1 - 2 * padding[a] for a in range(2)]
    H = draw(st.integers(max(1, low[0]), max(1, low[0]) + 5))
    W = draw(st.integers(max(1, low[1]), max(1, low[1]) + 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = tied_values(rng, (draw(st.integers(1, 3)), draw(st.integers(1, 3)), H, W), np.float64)
    return layout(x, draw(st.sampled_from(LAYOUTS_4D))), geometry


TINY = pytest.mark.parametrize("tiny", [False, True])


@TINY
@given(problem=pool_problems())
def test_max_pool_equals_the_reference(tiny: bool, problem: tuple[Array, P.PoolGeometry]) -> None:
    """Through the dispatch: the general path for most windows, the 2x2 ones for 2x2."""
    x, geometry = problem
    expected = P.max_pool2d_reference(x, geometry)
    grad = np.random.default_rng(0).normal(size=expected.shape)
    with machinery(tiny):
        y, cache = P.max_pool2d_forward(x, geometry)
        dx = P.max_pool2d_backward(grad, cache)
    np.testing.assert_array_equal(y, expected)
    close(dx, P.max_pool2d_backward_reference(grad, x, geometry))


def two_by_two_paths(x: Array, geometry: P.PoolGeometry) -> list[str]:
    """The 2x2/2 fast paths that accept ``x`` (the dispatch takes the first)."""
    H, W = x.shape[2:]
    planes_layout = any(
        x.transpose(order).flags.c_contiguous for order in [(0, 1, 2, 3), (1, 0, 2, 3)]
    )
    paths = []
    if x.dtype == np.float32 and planes_layout and H % 2 == 0 and W % 2 == 0:
        paths.append("planes")  # float32, contiguous (N, C) or (C, N) planes, even sizes
    if not geometry.ceil_mode or (H % 2 == 0 and W % 2 == 0):
        paths.append("pairwise")
    return [*paths, "taps"]


def run_max_pool_path(
    path: str, x: Array, geometry: P.PoolGeometry
) -> tuple[Array, P.MaxPoolCache]:
    out = geometry.output_size(*x.shape[2:])
    if path == "planes":
        order = P._planes_order(x)
        assert order is not None
        return P._max_pool_planes(x, order, geometry)
    if path == "pairwise":
        return P._max_pool_pairwise(x, out, geometry)
    return P._max_pool_taps(x, out, geometry)


@TINY
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", LAYOUTS_4D)
@given(
    N=st.integers(1, 3),
    C_=st.integers(1, 3),
    H=st.integers(2, 7),
    W=st.integers(2, 7),
    ceil_mode=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_2x2_max_pool_path_equals_the_reference(
    tiny: bool,
    dtype: type,
    order: tuple[int, ...],
    N: int,
    C_: int,
    H: int,
    W: int,
    ceil_mode: bool,
    seed: int,
) -> None:
    """Each path by name (the float32 planes with their 64-bit gradient words, the
    pairwise comparisons on any layout, the general taps), outputs and routes exact."""
    rng = np.random.default_rng(seed)
    x = layout(tied_values(rng, (N, C_, H, W), dtype), order)
    geometry = P.PoolGeometry((2, 2), (2, 2), ceil_mode=ceil_mode)
    expected = P.max_pool2d_reference(x, geometry)
    grad = rng.normal(size=expected.shape).astype(dtype)
    expected_dx = P.max_pool2d_backward_reference(grad, x, geometry)
    paths = two_by_two_paths(x, geometry)
    with machinery(tiny):
        _, dispatched = P.max_pool2d_forward(x, geometry)
        assert dispatched.kind == paths[0]
        for path in paths:
            y, cache = run_max_pool_path(path, x, geometry)
            assert cache.kind == path
            np.testing.assert_array_equal(y, expected, err_msg=path)
            dx = P.max_pool2d_backward(grad, cache)
            np.testing.assert_array_equal(dx, expected_dx, err_msg=path)


@TINY
@pytest.mark.parametrize("count_include_pad", [True, False])
@given(problem=pool_problems(dilation=False), divisor=st.sampled_from([None, None, 1, 5]))
def test_avg_pool_equals_the_reference(
    tiny: bool,
    count_include_pad: bool,
    problem: tuple[Array, P.PoolGeometry],
    divisor: int | None,
) -> None:
    """The gradient arrives in another layout than the input (it is reordered first)."""
    x, geometry = problem
    expected = P.avg_pool2d_reference(x, geometry, count_include_pad, divisor)
    grad = np.random.default_rng(0).normal(size=expected.shape)
    with machinery(tiny):
        y, cache = P.avg_pool2d_forward(x, geometry, count_include_pad, divisor)
        dx = P.avg_pool2d_backward(layout(grad, (1, 2, 3, 0)), cache)
    close(y, expected)
    close(dx, P.avg_pool2d_backward_reference(grad, x, geometry, count_include_pad, divisor))


@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from(LAYOUTS_4D),
    st.integers(0, 2**32 - 1),
)
def test_adaptive_pools_equal_the_reference(
    N: int, C_: int, H: int, W: int, ho: int, wo: int, order: tuple[int, ...], seed: int
) -> None:
    """Windows of unequal sizes that overlap (output larger than the input too)."""
    rng = np.random.default_rng(seed)
    x = layout(tied_values(rng, (N, C_, H, W), np.float64), order)
    grad = rng.normal(size=(N, C_, ho, wo))
    y, avg_cache = P.adaptive_avg_pool2d_forward(x, (ho, wo))
    close(y, P.adaptive_avg_pool2d_reference(x, (ho, wo)))
    close(
        P.adaptive_avg_pool2d_backward(grad, avg_cache),
        P.adaptive_avg_pool2d_backward_reference(grad, x),
    )
    y, max_cache = P.adaptive_max_pool2d_forward(x, (ho, wo))
    np.testing.assert_array_equal(y, P.adaptive_max_pool2d_reference(x, (ho, wo)))
    close(
        P.adaptive_max_pool2d_backward(grad, max_cache),
        P.adaptive_max_pool2d_backward_reference(grad, x),
    )


# ---------------------------------------------------------------------- normalisation


def near(actual: Array, expected: Array) -> None:
    """Normalised values are O(1) but carry the rounding of ``x`` magnified by |x|/σ
    (at -50 ± 0.01, x's rounding of ~7e-15 is ~7e-13 in x̂): an absolute tolerance."""
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9)


@st.composite
def norm_inputs(draw: st.DrawFn) -> tuple[Array, np.random.Generator]:
    """(N, C, L) values around a drawn offset (far from zero: the variance's cancellation)."""
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 7)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    offset = draw(st.sampled_from([0.0, 3.0, -50.0]))
    x = offset + rng.normal(size=shape) * draw(st.sampled_from([1.0, 0.01]))
    assume(x.shape[0] * x.shape[2] > 1 or offset == 0.0)  # one number: σ = √ε
    order = draw(st.sampled_from([(0, 1, 2), (1, 2, 0), (1, 0, 2)]))
    return layout(x, order), rng


def affine(rng: np.random.Generator, size: int | tuple[int, ...], on: bool) -> Array | None:
    return rng.normal(size=size) if on else None


@TINY
@pytest.mark.parametrize("affine_on", [True, False])
@given(problem=norm_inputs(), eps=st.sampled_from([1e-5, 0.1]))
def test_batch_norm_train_and_eval_equal_the_reference(
    tiny: bool, affine_on: bool, problem: tuple[Array, np.random.Generator], eps: float
) -> None:
    """The fast forward (corrected two-pass variance, folded scale and shift, blocks of
    channels) and its closed-form backward against the staged chain rule."""
    x, rng = problem
    C_ = x.shape[1]
    weight, bias = affine(rng, C_, affine_on), affine(rng, C_, affine_on)
    grad = rng.normal(size=x.shape)
    with machinery(tiny):
        y, stats = Nm.batch_norm_train(x, weight, bias, eps)
        dx, dw, db = Nm.batch_norm_train_backward(grad, stats, weight)
    near(y, Nm.batch_norm_reference(x, weight, bias, eps))
    ref_dx, ref_dw, ref_db = Nm.batch_norm_backward_reference(grad, x, weight, eps)
    near(dx, ref_dx)
    near(dw, ref_dw)
    near(db, ref_db)
    mean, var = rng.normal(size=C_), rng.uniform(0.1, 2.0, size=C_)
    invstd = 1 / np.sqrt(var + eps)
    near(
        Nm.batch_norm_eval(x, mean, invstd, weight, bias),
        Nm.batch_norm_reference(x, weight, bias, eps, mean, var),
    )
    expected = Nm.batch_norm_backward_reference(grad, x, weight, eps, mean, var)
    for actual, wanted in zip(
        Nm.batch_norm_eval_backward(grad, x, mean, invstd, weight), expected, strict=True
    ):
        near(actual, wanted)


@pytest.mark.parametrize("affine_on", [True, False])
@given(problem=norm_inputs(), eps=st.sampled_from([1e-5, 0.1]))
def test_layer_group_and_rms_norm_equal_the_reference(
    affine_on: bool, problem: tuple[Array, np.random.Generator], eps: float
) -> None:
    """Layer norm over the last two axes (the fast kernel sees rows of C·L), group norm
    with every divisor of C as the number of groups, RMS norm over the last axis."""
    x, rng = problem
    N, C_, L = x.shape
    grad = rng.normal(size=x.shape)
    rows = (N, C_ * L)

    weight, bias = affine(rng, (C_, L), affine_on), affine(rng, (C_, L), affine_on)
    flat = [None if a is None else a.reshape(-1) for a in (weight, bias)]
    y, xhat, invstd = Nm.layer_norm(x.reshape(rows), flat[0], flat[1], eps)
    near(y.reshape(x.shape), Nm.layer_norm_reference(x, 2, weight, bias, eps))
    dx, dw, db = Nm.layer_norm_backward(grad.reshape(rows), xhat, invstd, flat[0])
    ref_dx, ref_dw, ref_db = Nm.layer_norm_backward_reference(grad, x, 2, weight, eps)
    near(dx.reshape(x.shape), ref_dx)
    near(dw.reshape(C_, L), ref_dw)
    near(db.reshape(C_, L), ref_db)

    weight, bias = affine(rng, C_, affine_on), affine(rng, C_, affine_on)
    for groups in (g for g in range(1, C_ + 1) if C_ % g == 0):
        y, xhat, invstd = Nm.group_norm(x, groups, weight, bias, eps)
        near(y, Nm.group_norm_reference(x, groups, weight, bias, eps))
        dx, dw, db = Nm.group_norm_backward(grad, xhat, invstd, groups, weight)
        ref_dx, ref_dw, ref_db = Nm.group_norm_backward_reference(grad, x, groups, weight, eps)
        near(dx, ref_dx)
        near(dw, ref_dw)
        near(db, ref_db)

    weight = affine(rng, L, affine_on)  # the fast kernel sees rows, the reference (N, C, L)
    x2, grad2 = x.reshape(N * C_, L), grad.reshape(N * C_, L)
    y, xhat, invrms = Nm.rms_norm(x2, weight, eps)
    near(y.reshape(x.shape), Nm.rms_norm_reference(x, weight, eps))
    dx, dw = Nm.rms_norm_backward(grad2, xhat, invrms, weight)
    ref_dx, ref_dw = Nm.rms_norm_backward_reference(grad, x, weight, eps)
    near(dx.reshape(x.shape), ref_dx)
    near(dw, ref_dw)


@pytest.mark.parametrize("affine_on", [True, False])
@given(seed=st.integers(0, 2**32 - 1), offset=st.sampled_from([1000.0, -300.0]))
def test_float32_batch_norm_far_from_zero_keeps_float64_accuracy(
    affine_on: bool, seed: int, offset: float
) -> None:
    """The corrected two-pass variance in float32: the first-pass mean is off by ~1e-4
    at |μ| = 1000, which the correction δ removes (x̂ would be off by δ/σ without it);
    the reference runs in float64 on the same float32 numbers."""
    rng = np.random.default_rng(seed)
    x = (offset + rng.normal(size=(16, 4, 50))).astype(np.float32)
    weight, bias = affine(rng, 4, affine_on), affine(rng, 4, affine_on)
    w32, b32 = (None if a is None else a.astype(np.float32) for a in (weight, bias))
    grad = rng.normal(size=x.shape).astype(np.float32)
    y, stats = Nm.batch_norm_train(x, w32, b32, 1e-5)
    dx, dw, _ = Nm.batch_norm_train_backward(grad, stats, w32)
    x64, g64 = x.astype(np.float64), grad.astype(np.float64)
    w64, b64 = (None if a is None else a.astype(np.float64) for a in (w32, b32))
    scale = 1.0 if w64 is None else float(np.abs(w64).max())
    np.testing.assert_allclose(y, Nm.batch_norm_reference(x64, w64, b64, 1e-5), atol=5e-6 * scale)
    ref_dx, ref_dw, _ = Nm.batch_norm_backward_reference(g64, x64, w64, 1e-5)
    np.testing.assert_allclose(dx, ref_dx, atol=5e-6 * scale)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-4)


@given(
    N=st.integers(1, 2),
    C_=st.integers(1, 3),
    H=st.integers(3, 7),
    W=st.integers(3, 7),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_functional_pooling_api_equals_the_reference(
    N: int, C_: int, H: int, W: int, seed: int
) -> None:
    """F.max_pool2d & co. (forward only): unbatched inputs, ``None`` in an adaptive
    size, the 1-d pools as 2-d ones over a height of 1, PyTorch's default stride."""
    rng = np.random.default_rng(seed)
    x = tied_values(rng, (N, C_, H, W), np.float64)
    geometry = P.PoolGeometry((3, 2), (1, 2), (1, 1), (1, 2), ceil_mode=True)
    expected = P.max_pool2d_reference(x, geometry)
    np.testing.assert_array_equal(
        P.max_pool2d(x[0], (3, 2), (1, 2), (1, 1), (1, 2), True), expected[0]
    )
    avg = P.avg_pool2d(x, 3, padding=1, count_include_pad=False)
    close(avg, P.avg_pool2d_reference(x, P.PoolGeometry((3, 3), (3, 3), (1, 1)), False))
    close(P.adaptive_avg_pool2d(x[0], (None, 2)), P.adaptive_avg_pool2d_reference(x, (H, 2))[0])
    np.testing.assert_array_equal(
        P.adaptive_max_pool2d(x[0], 2), P.adaptive_max_pool2d_reference(x, (2, 2))[0]
    )
    line = x[:, :, 0]  # (N, C, W)
    one_d = P.PoolGeometry((1, 3), (1, 3), (0, 1), (1, 2))
    np.testing.assert_array_equal(
        P.max_pool1d(line, 3, padding=1, dilation=2),
        P.max_pool2d_reference(line[:, :, None], one_d)[:, :, 0],
    )
    defaults = P.PoolGeometry((1, 2), (1, 2))  # stride = kernel, no padding or dilation
    np.testing.assert_array_equal(
        P.max_pool1d(line, 2), P.max_pool2d_reference(line[:, :, None], defaults)[:, :, 0]
    )
    close(P.avg_pool1d(line, 2), P.avg_pool2d_reference(line[:, :, None], defaults)[:, :, 0])
    one_d = P.PoolGeometry((1, 3), (1, 2), (0, 1), ceil_mode=True)
    close(
        P.avg_pool1d(line, 3, 2, padding=1, ceil_mode=True),
        P.avg_pool2d_reference(line[:, :, None], one_d)[:, :, 0],
    )
