"""Specific behaviour of the pooling layers.

The generic suite (tests/cases/pooling.py) gradient-checks them and compares them with
torch over drawn hyperparameters; here: error messages, output sizes of ceil-mode
corner cases, the max-pool tie rule on every kernel path, examples computed by hand, and
the documented differences from torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn.functional import pooling as pool_kernels


def _x(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def _in_layout(x: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(order)).transpose(np.argsort(order))


LAYOUTS = {"NCHW": (0, 1, 2, 3), "CNHW": (1, 0, 2, 3), "CHWN": (1, 2, 3, 0)}


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("module", "x", "message"),
    [
        (
            nn.MaxPool2d(2),
            _x(5, 5),
            r"MaxPool2d\(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False\): "
            r"expected input of shape \(N, C, H, W\) or \(C, H, W\).*got \(5, 5\)",
        ),
        (nn.MaxPool2d(2), _x(1, 1, 1, 5, 5), r"got \(1, 1, 1, 5, 5\)"),
        (nn.MaxPool2d(2), _x(1, 0, 4, 4), r"no empty dimension, got \(1, 0, 4, 4\)"),
        (nn.AvgPool2d(2), _x(4), r"AvgPool2d\(kernel_size=2.*got \(4,\)"),
        (nn.MaxPool1d(2), _x(1, 2, 3, 4), r"MaxPool1d.*\(N, C, L\) or \(C, L\).*\(1, 2, 3, 4\)"),
        (nn.AvgPool1d(2), _x(4), r"AvgPool1d.*got \(4,\)"),
        (nn.AdaptiveAvgPool2d(2), _x(5), r"AdaptiveAvgPool2d\(output_size=2\).*got \(5,\)"),
        (
            nn.MaxPool2d(5),
            _x(2, 3, 3, 8),
            r"MaxPool2d\(kernel_size=5.*input of shape \(2, 3, 3, 8\) is too small for the "
            r"window: the output size would be \(0, 1\)",
        ),
        (nn.AvgPool2d(3, padding=1), _x(1, 0, 2), r"no empty dimension"),
        (nn.AvgPool1d(4), _x(2, 3), r"input of shape \(2, 3\) is too small.*\(0,\)"),
        (nn.MaxPool1d(3, dilation=2), _x(1, 2, 4), r"input of shape \(1, 2, 4\) is too small"),
    ],
)
def test_wrong_input_names_the_layer_and_shapes(
    module: nn.Module, x: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        module(x)


def test_non_float_input() -> None:
    with pytest.raises(TypeError, match=r"MaxPool2d\(.*floating-point input, got dtype int32"):
        nn.MaxPool2d(2)(np.ones((1, 1, 4, 4), dtype=np.int32))
    with pytest.raises(TypeError, match="NumPy array"):
        nn.AvgPool2d(2)([[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: nn.MaxPool2d(2, padding=2), ValueError, r"padding must be between 0 and half"),
        (lambda: nn.MaxPool2d(3, padding=2, dilation=2), ValueError, r"half the kernel size"),
        (
            lambda: nn.AvgPool2d((3, 2), padding=(1, 2)),
            ValueError,
            r"padding=\(1, 2\) for kernel_size=\(3, 2\)",
        ),
        (lambda: nn.MaxPool1d(2, padding=-1), ValueError, "padding must be between"),
        (lambda: nn.MaxPool2d(0), ValueError, r"kernel_size must be positive"),
        (lambda: nn.AvgPool2d(2, stride=0), ValueError, r"stride must be positive"),
        (lambda: nn.MaxPool2d(2, dilation=0), ValueError, r"dilation must be positive"),
        (lambda: nn.MaxPool2d((2, 2, 2)), ValueError, r"kernel_size must be an int or a pair"),
        (lambda: nn.AvgPool1d((2, 2)), ValueError, r"kernel_size must be an int or a 1-tuple"),
        (
            lambda: nn.AvgPool2d(2, divisor_override=0),
            ValueError,
            "divisor_override must not be zero",
        ),
        (lambda: nn.AdaptiveAvgPool2d((2, 2, 2)), ValueError, "output_size must be"),
        (lambda: nn.AdaptiveAvgPool2d(-1), ValueError, "output_size must be"),
        (lambda: nn.AdaptiveMaxPool2d((1, 2.5)), ValueError, "output_size must be"),
    ],
)
def test_invalid_construction(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()  # type: ignore[operator]


def test_gradient_of_the_wrong_shape() -> None:
    pool = nn.MaxPool2d(2)
    pool(_x(1, 2, 4, 4))
    with pytest.raises(
        ValueError, match=r"MaxPool2d.*expects a gradient of the output's shape \(1, 2, 2, 2\)"
    ):
        pool.backward(np.ones((1, 2, 4, 4), dtype=np.float32))


# ---------------------------------------------------------------------- output sizes


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "ceil_mode", "expected"),
    [
        (5, 2, 2, 0, 1, False, 2),
        (5, 2, 2, 0, 1, True, 3),  # the last window starts inside the input: kept
        (5, 2, 2, 1, 1, True, 3),  # ceil gives 4, but window 4 would start in the right padding
        (6, 3, 2, 1, 1, True, 4),
        (7, 3, 3, 1, 2, True, 3),
        (4, 3, 2, 1, 1, False, 2),
        (10, 4, 3, 2, 1, True, 4),
    ],
)
def test_output_size_ceil_mode_rules(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool, expected: int
) -> None:
    assert (
        pool_kernels.pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
        == expected
    )
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    assert pool(_x(1, 1, size, size)).shape == (1, 1, expected, expected)
    avg = nn.AvgPool1d(kernel, stride, padding, ceil_mode=ceil_mode)
    if dilation == 1:
        assert avg(_x(1, size)).shape == (1, expected)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    assert theirs(torch.zeros(1, 1, size, size)).shape[-1] == expected


# ---------------------------------------------------------------------- max-pool tie rule


def _tie_inputs() -> list[np.ndarray]:
    """2×2 windows with every kind of tie (values -1, 0 or 1, many equal)."""
    windows = [
        [[1, 1], [1, 1]],  # all equal: top-left
        [[0, 1], [1, 0]],  # top-right and bottom-left: top-right (row-major first)
        [[0, 0], [1, 1]],  # bottom row: bottom-left
        [[1, 0], [0, 1]],  # top-left and bottom-right: top-left
        [[0, 1], [0, 1]],  # right column: top-right
        [[-1, -1], [-1, 0]],  # unique maximum: bottom-right
    ]
    x = np.array(windows, dtype=np.float64).reshape(1, 6, 2, 2)
    return [x, np.tile(x, (2, 1, 3, 2))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_ties_send_the_gradient_to_the_first_maximum(dtype: type, layout: str) -> None:
    expected_first = np.zeros((6, 2, 2))
    for channel, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (0, 0), (0, 1), (1, 1)]):
        expected_first[channel, r, c] = 1
    for x in _tie_inputs():
        pool = nn.MaxPool2d(2)
        xs = _in_layout(x.astype(dtype), LAYOUTS[layout])
        y = pool(xs)
        grad = pool.backward(np.ones(y.shape, dtype=dtype))
        np.testing.assert_array_equal(grad[0, :, :2, :2], expected_first)
        assert grad.sum() == y.size


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 2, "ceil_mode": True},
        {"kernel_size": 3, "stride": 1, "padding": 1},
        {"kernel_size": (2, 3), "stride": (1, 2), "dilation": (2, 1)},
    ],
)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_ties_agree_with_torch(dtype: type, kwargs: dict[str, object], layout: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.integers(-1, 2, (2, 3, 7, 6)).astype(dtype)  # three values: ties everywhere
    if kwargs == {"kernel_size": 2}:
        x = x[:, :, :6]  # even sizes: the contiguous fast path
    pool = nn.MaxPool2d(**kwargs)  # type: ignore[arg-type]
    y = pool(_in_layout(x, LAYOUTS[layout]))
    g = rng.standard_normal(y.shape).astype(dtype)
    grad = pool.backward(g)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    ty = torch.nn.MaxPool2d(**kwargs)(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-6)


def test_max_pool1d_ties() -> None:
    pool = nn.MaxPool1d(3, stride=1)
    pool(np.array([[[2.0, 2.0, 2.0, 1.0]]]))
    # windows [2, 2, 2] and [2, 2, 1]: each gives its gradient to its own first 2
    np.testing.assert_array_equal(
        pool.backward(np.array([[[1.0, 10.0]]])), [[[1.0, 10.0, 0.0, 0.0]]]
    )


# ---------------------------------------------------------------------- known values


def test_max_pool2d_by_hand() -> None:
    x = np.array([[[[1.0, 5.0, 2.0], [3.0, 4.0, 9.0], [7.0, 0.0, 6.0]]]])
    pool = nn.MaxPool2d(2, stride=1)
    np.testing.assert_array_equal(pool(x), [[[[5.0, 9.0], [7.0, 9.0]]]])
    # 9 wins two windows: its gradients add
    grad = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0, 1, 0], [0, 0, 6], [3, 0, 0]]]])


def test_avg_pool2d_by_hand() -> None:
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # 2×2 windows, stride 2, padding 1: windows over the zero-padded 5×5 input
    with_pad = nn.AvgPool2d(2, stride=2, padding=1)
    np.testing.assert_array_equal(with_pad(x)[0, 0], [[1 / 4, 5 / 4], [11 / 4, 28 / 4]])
    without_pad = nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False)
    np.testing.assert_array_equal(without_pad(x)[0, 0], [[1, 5 / 2], [11 / 2, 28 / 4]])
    grad = without_pad.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(
        grad[0, 0], [[1, 1 / 2, 1 / 2], [1 / 2, 1 / 4, 1 / 4], [1 / 2, 1 / 4, 1 / 4]]
    )
    override = nn.AvgPool2d(2, stride=2, padding=1, divisor_override=2)
    np.testing.assert_array_equal(override(x)[0, 0], [[1 / 2, 5 / 2], [11 / 2, 28 / 2]])


def test_avg_pool_ceil_mode_divisor_counts_only_the_padded_input() -> None:
    """A ceil-mode window overhanging the padded input is divided by its clipped size."""
    pool = nn.AvgPool1d(2, stride=2, ceil_mode=True)  # size 3: windows [0, 2) and [2, 3)
    np.testing.assert_array_equal(pool(np.array([[1.0, 2.0, 6.0]])), [[1.5, 6.0]])


def test_adaptive_avg_pool2d_by_hand() -> None:
    """Size 5 to 3: windows [0, 2), [1, 4), [3, 5), overlapping."""
    x = np.array([[[[1.0, 2.0, 3.0, 4.0, 5.0]]]])
    pool = nn.AdaptiveAvgPool2d((None, 3))
    np.testing.assert_allclose(pool(x), [[[[1.5, 3.0, 4.5]]]], rtol=1e-15)
    grad = pool.backward(np.array([[[[2.0, 3.0, 4.0]]]]))
    np.testing.assert_allclose(grad, [[[[1.0, 2.0, 1.0, 3.0, 2.0]]]], rtol=1e-15)
    starts, ends = pool_kernels.adaptive_windows(5, 3)
    np.testing.assert_array_equal(starts, [0, 1, 3])
    np.testing.assert_array_equal(ends, [2, 4, 5])


def test_adaptive_max_pool2d_by_hand() -> None:
    """Size 5 to 3: windows [0, 2), [1, 4), [3, 5); 4 wins the last two windows."""
    x = np.array([[[[1.0, 2.0, 0.0, 4.0, 3.0]]]])
    pool = nn.AdaptiveMaxPool2d((1, 3))
    np.testing.assert_array_equal(pool(x), [[[[2.0, 4.0, 4.0]]]])
    grad = pool.backward(np.array([[[[1.0, 10.0, 100.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0.0, 1.0, 0.0, 110.0, 0.0]]]])


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_adaptive_max_pool2d_ties_agree_with_torch(layout: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.integers(-1, 2, (2, 3, 7, 5)).astype(np.float64)
    for size in [(3, 2), (5, 5), (2, None), (9, 7)]:
        pool = nn.AdaptiveMaxPool2d(size)
        y = pool(_in_layout(x, LAYOUTS[layout]))
        g = rng.standard_normal(y.shape)
        grad = pool.backward(g)
        tx = torch.from_numpy(x.copy()).requires_grad_()
        ty = torch.nn.AdaptiveMaxPool2d(size)(tx)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(y, ty.detach().numpy())
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-14)


def test_global_average_pooling() -> None:
    x = _x(2, 3, 4, 5, dtype=np.float64)
    np.testing.assert_allclose(
        nn.AdaptiveAvgPool2d(1)(x), x.mean(axis=(2, 3), keepdims=True), rtol=1e-14
    )


def test_unbatched_input_is_the_batch_of_one() -> None:
    for pool, x in [
        (nn.MaxPool2d(2), _x(3, 4, 6)),
        (nn.MaxPool2d(3, stride=2, padding=1), _x(3, 5, 5)),
        (nn.AvgPool2d(2, ceil_mode=True), _x(3, 5, 5)),
        (nn.MaxPool1d(2), _x(3, 6)),
        (nn.AvgPool1d(3, stride=1, padding=1), _x(3, 6)),
        (nn.AdaptiveAvgPool2d((2, None)), _x(3, 5, 4)),
        (nn.AdaptiveMaxPool2d((3, 2)), _x(3, 5, 4)),
    ]:
        y = pool(x)
        gx = pool.backward(np.ones_like(y))
        np.testing.assert_array_equal(y, pool(x[None])[0])
        np.testing.assert_array_equal(gx, pool.backward(np.ones_like(y)[None])[0])
        assert gx.shape == x.shape


# ---------------------------------------------------------------------- layout and paths


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_output_and_gradient_keep_the_input_layout(layout: str) -> None:
    order = LAYOUTS[layout]
    for pool in [nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2)]:
        x = _in_layout(_x(2, 3, 8, 6), order)
        y = pool(x)
        assert pool_kernels.memory_order(y) == order, (layout, pool)
        grad = pool.backward(_in_layout(np.ones(y.shape, np.float32), order))
        assert pool_kernels.memory_order(grad) == order, (layout, pool)


def test_float32_fast_path_equals_the_float64_result() -> None:
    x = _x(4, 3, 8, 10)
    pool32, pool64 = nn.MaxPool2d(2), nn.MaxPool2d(2)
    y32, y64 = pool32(x), pool64(x.astype(np.float64))
    np.testing.assert_array_equal(y32, y64)
    g = _x(*y32.shape)
    np.testing.assert_array_equal(pool32.backward(g), pool64.backward(g.astype(np.float64)))


# ---------------------------------------------------------------------- differences from torch


def test_window_of_padding_only_gives_minus_infinity_and_no_gradient() -> None:
    """With dilation, a window can hold only padding: torch returns -inf too but routes its
    gradient to an index past the end of the plane (into the next channel); refnet
    gives it to nobody, since the output depends on no input."""
    pool = nn.MaxPool1d(2, stride=2, padding=1, dilation=2)
    x = np.array([[[1.0], [2.0]]])
    y = pool(x)
    np.testing.assert_array_equal(y, np.full((1, 2, 1), -np.inf))
    np.testing.assert_array_equal(pool.backward(np.ones((1, 2, 1))), np.zeros((1, 2, 1)))


def test_nan_propagates_to_the_output() -> None:
    for pool in [nn.MaxPool2d(2), nn.MaxPool2d(2, stride=1), nn.AvgPool2d(2)]:
        x = np.ones((1, 1, 4, 4))
        x[0, 0, 1, 1] = np.nan
        assert np.isnan(pool(x)[0, 0, 0, 0])


def test_functional_forms_match_torch() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    import refnet.nn.functional as F

    x = np.random.default_rng(4).standard_normal((2, 3, 7, 6))
    tx = torch.from_numpy(x)
    pairs = [
        (F.max_pool2d(x, 3, 2, 1, 1, True), TF.max_pool2d(tx, 3, 2, 1, 1, True)),
        (F.max_pool2d(x[0], 2), TF.max_pool2d(tx[0], 2)),
        (
            F.avg_pool2d(x, (3, 2), 2, 1, True, False, None),
            TF.avg_pool2d(tx, (3, 2), 2, 1, True, False),
        ),
        (F.avg_pool2d(x, 2, divisor_override=3), TF.avg_pool2d(tx, 2, divisor_override=3)),
        (F.adaptive_avg_pool2d(x, (4, None)), TF.adaptive_avg_pool2d(tx, (4, None))),
        (F.adaptive_max_pool2d(x, 4), TF.adaptive_max_pool2d(tx, 4)),
        (F.max_pool1d(x[:, :, 0], 2, 1, 1, 2), TF.max_pool1d(tx[:, :, 0], 2, 1, 1, 2)),
        (
            F.avg_pool1d(x[:, :, 0], 3, 2, 1, True, False),
            TF.avg_pool1d(tx[:, :, 0], 3, 2, 1, True, False),
        ),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-13)


# ---------------------------------------------------------------------- blocks on threads


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.MaxPool2d(2),
        lambda: nn.MaxPool2d(2, ceil_mode=True),
        lambda: nn.MaxPool2d(3, stride=2, padding=1),
        lambda: nn.MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1)),
        lambda: nn.AvgPool2d(2),
        lambda: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    ],
    ids=["max2", "max2ceil", "max3s2p1", "maxdilated", "avg2", "avg3s1p1"],
)
def test_blocks_of_planes_on_threads_give_the_single_block_result(
    threads: int, layout: str, make: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large inputs are processed in blocks of (N, C) planes on refnet's threads; cut
    small arrays into many blocks (lowered thresholds) and compare with one block."""
    from refnet import _parallel

    rng = np.random.default_rng(11)
    x = _in_layout(rng.integers(-2, 3, (5, 6, 9, 8)).astype(np.float32), LAYOUTS[layout])
    x = x[:, :, :8] if layout == "NCHW" else x  # even sizes reach the plane-copy path
    pool = make()  # type: ignore[operator]
    y = pool(x)
    g = _in_layout(rng.standard_normal(y.shape).astype(np.float32), LAYOUTS[layout])
    expected = (y.copy(), pool.backward(g).copy())
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS", 16)
    monkeypatch.setattr(_parallel, "BLOCK_BYTES", 512)
    monkeypatch.setattr(_parallel, "_threads", threads)
    y_blocks = pool(x)
    grad_blocks = pool.backward(g)
    np.testing.assert_array_equal(y_blocks, expected[0])
    np.testing.assert_array_equal(grad_blocks, expected[1])


# ---------------------------------------------------------------------- settings changed later


@pytest.mark.parametrize(
    ("layer", "arguments", "field", "value"),
    [
        (nn.MaxPool2d, {"kernel_size": 3}, "stride", 1),
        (nn.MaxPool2d, {"kernel_size": 3}, "padding", 1),
        (nn.MaxPool2d, {"kernel_size": 3}, "dilation", 2),
        (nn.MaxPool2d, {"kernel_size": 3, "stride": 3}, "kernel_size", 2),
        (nn.MaxPool2d, {"kernel_size": 3, "stride": 2}, "ceil_mode", True),
        (nn.MaxPool1d, {"kernel_size": 3}, "stride", 1),
        (nn.AvgPool2d, {"kernel_size": 3}, "stride", 1),
        (nn.AvgPool2d, {"kernel_size": 3, "stride": 2, "padding": 1}, "ceil_mode", True),
        (nn.AvgPool2d, {"kernel_size": 3, "padding": 1}, "count_include_pad", False),
        (nn.AvgPool2d, {"kernel_size": 3}, "divisor_override", 2),
        (nn.AvgPool1d, {"kernel_size": 3}, "padding", (1,)),  # stored as a 1-tuple
        (nn.AdaptiveAvgPool2d, {"output_size": 3}, "output_size", (2, 4)),
        (nn.AdaptiveMaxPool2d, {"output_size": 3}, "output_size", 5),
    ],
)
def test_a_setting_changed_after_construction_takes_effect(
    layer: type[nn.Module], arguments: dict[str, object], field: str, value: object
) -> None:
    """Issue 19: the layer then computes as one constructed with the new setting (and
    shows it in its repr), forward and backward; before, only the repr changed."""
    changed = layer(**arguments)
    x = _x(2, 3, 8, 8, dtype=np.float64)
    x = x[:, :, 0] if layer.__name__.endswith("1d") else x
    before = changed(x)
    setattr(changed, field, value)
    built = layer(**{**arguments, field: value})
    y = changed(x)
    assert repr(changed) == repr(built)
    assert y.shape != before.shape or not np.array_equal(y, before)
    np.testing.assert_array_equal(y, built(x))
    g = np.random.default_rng(1).standard_normal(y.shape)
    np.testing.assert_array_equal(changed.backward(g), built.backward(g))


@pytest.mark.parametrize(
    ("make", "field", "value", "message"),
    [
        (lambda: nn.MaxPool2d(2), "padding", 2, "padding must be between 0 and half"),
        (lambda: nn.MaxPool2d(2), "stride", 0, "stride must be positive"),
        (lambda: nn.AvgPool2d(2), "divisor_override", 0, "divisor_override must not be zero"),
        (lambda: nn.AvgPool1d(2), "kernel_size", (2, 2), "kernel_size must be an int"),
        (lambda: nn.AdaptiveAvgPool2d(2), "output_size", -1, "output_size must be"),
    ],
)
def test_an_invalid_later_setting_is_refused_and_the_old_one_kept(
    make: object, field: str, value: object, message: str
) -> None:
    layer = make()  # type: ignore[operator]
    before, old = repr(layer), getattr(layer, field)
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.*{message}"):
        setattr(layer, field, value)
    assert getattr(layer, field) == old
    assert repr(layer) == before
    x = _x(1, 2, 6, 6)
    x = x[:, :, 0] if type(layer).__name__.endswith("1d") else x
    np.testing.assert_array_equal(layer(x), make()(x))  # type: ignore[operator]
