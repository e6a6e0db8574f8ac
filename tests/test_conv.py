"""Specific behaviour of Conv2d, Conv1d and ConvTranspose2d.

The generic suite (tests/cases/conv.py) gradient-checks them and compares them with
torch over drawn hyperparameters; here: error messages, output sizes of odd
configurations, examples computed by hand, initialisation, chunking, interop.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn.functional import conv as conv_kernels


def _x(*shape: int, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("module", "x", "message"),
    [
        (
            nn.Conv2d(1, 10, 5),
            _x(64, 28, 28),
            r"Conv2d\(1, 10, kernel_size=\(5, 5\), stride=\(1, 1\)\): expected input of shape "
            r"\(N, 1, H, W\) or \(1, H, W\), got \(64, 28, 28\)",
        ),
        (
            nn.Conv2d(3, 4, 3),
            _x(2, 2, 8, 8),
            r"expected input of shape \(N, 3, H, W\).*\(2, 2, 8, 8\)",
        ),
        (nn.Conv2d(3, 4, 3), _x(8, 8), r"got \(8, 8\)"),
        (nn.Conv2d(3, 4, 3), _x(1, 1, 3, 8, 8), r"got \(1, 1, 3, 8, 8\)"),
        (
            nn.Conv1d(2, 4, 3),
            _x(2, 3, 7),
            r"Conv1d\(2, 4.*\(N, 2, L\) or \(2, L\), got \(2, 3, 7\)",
        ),
        (nn.Conv1d(2, 4, 3), _x(1, 2, 3, 7), r"got \(1, 2, 3, 7\)"),
        (nn.ConvTranspose2d(2, 4, 3), _x(1, 3, 4, 4), r"ConvTranspose2d\(2, 4.*\(N, 2, H, W\)"),
    ],
)
def test_wrong_shape_names_the_layer_and_shapes(
    module: nn.Module, x: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        module(x)


@pytest.mark.parametrize(
    ("module", "x", "message"),
    [
        (
            nn.Conv2d(1, 2, 5),
            _x(1, 1, 3, 3),
            r"Conv2d\(1, 2.*input of size \(3, 3\) padded to \(3, 3\) is smaller than the "
            r"dilated kernel \(5, 5\)",
        ),
        (
            nn.Conv2d(1, 2, 3, padding=1, dilation=3),
            _x(1, 1, 4, 9),
            r"padded to \(6, 11\) is smaller than the dilated kernel \(7, 7\)",
        ),
        (
            nn.Conv1d(1, 2, 4, dilation=2),
            _x(3, 1, 6),
            r"input of size \(6,\) padded to \(6,\).*\(7,\)",
        ),
        (
            nn.Conv2d(1, 2, 3, padding=2, padding_mode="reflect"),
            _x(1, 1, 2, 5),
            r"reflect padding \(2, 2\) must be smaller than the input size \(2, 5\)",
        ),
        (
            nn.Conv2d(1, 2, 3, padding=3, padding_mode="circular"),
            _x(1, 1, 5, 2),
            r"circular padding \(3, 3\) must be at most the input size \(5, 2\)",
        ),
    ],
)
def test_input_too_small(module: nn.Module, x: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        module(x)


def test_transposed_output_that_would_be_empty() -> None:
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(1, 2.*gives an output of size"):
        nn.ConvTranspose2d(1, 2, 3, padding=2)(_x(1, 1, 1, 1))


def test_non_float_and_mismatched_dtypes() -> None:
    conv = nn.Conv2d(1, 2, 3)
    with pytest.raises(TypeError, match=r"Conv2d\(1, 2.*floating-point input, got dtype int64"):
        conv(np.ones((1, 1, 5, 5), dtype=np.int64))
    with pytest.raises(TypeError, match=r"Conv2d\(1, 2.*float64 but the parameters are float32"):
        conv(np.ones((1, 1, 5, 5)))
    with pytest.raises(TypeError, match="NumPy array"):
        conv([[[[1.0]]]])


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: nn.Conv2d(3, 4, 3, groups=2),
            ValueError,
            "in_channels must be divisible by groups, got 3 and 2",
        ),
        (
            lambda: nn.Conv2d(4, 3, 3, groups=2),
            ValueError,
            "out_channels must be divisible by groups, got 3 and 2",
        ),
        (lambda: nn.Conv2d(2, 2, 3, groups=0), ValueError, "groups must be a positive integer"),
        (lambda: nn.Conv2d(0, 2, 3), ValueError, "must be positive"),
        (
            lambda: nn.Conv2d(1, 2, 3, stride=2, padding="same"),
            ValueError,
            "not supported for strided",
        ),
        (lambda: nn.Conv2d(1, 2, 3, padding="full"), ValueError, "invalid padding string 'full'"),
        (
            lambda: nn.Conv2d(1, 2, 3, padding_mode="mirror"),
            ValueError,
            "padding_mode must be one of",
        ),
        (
            lambda: nn.Conv2d(1, 2, (3, 3, 3)),
            ValueError,
            "kernel_size must be an int or a tuple of 2",
        ),
        (lambda: nn.Conv2d(1, 2, 0), ValueError, "kernel_size must be at least 1"),
        (lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, "padding must be at least 0"),
        (lambda: nn.Conv2d(1, 2, 3, stride=0), ValueError, "stride must be at least 1"),
        (lambda: nn.Conv1d(1, 2, (3, 3)), ValueError, "kernel_size must be an int or a tuple of 1"),
        (
            lambda: nn.ConvTranspose2d(1, 2, 3, padding_mode="reflect"),
            ValueError,
            'only "zeros" padding mode',
        ),
        (
            lambda: nn.ConvTranspose2d(1, 2, 3, stride=2, output_padding=2),
            ValueError,
            "output_padding must be smaller than either stride or dilation",
        ),
        (lambda: nn.ConvTranspose2d(1, 2, 3, padding="same"), ValueError, "invalid padding string"),
    ],
)
def test_invalid_construction(make: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()  # type: ignore[operator]


def test_gradient_of_the_wrong_shape() -> None:
    conv = nn.Conv2d(1, 2, 3)
    conv(_x(2, 1, 5, 5))
    with pytest.raises(
        ValueError, match=r"Conv2d\(1, 2.*expects a gradient of the output's shape \(2, 2, 3, 3\)"
    ):
        conv.backward(np.ones((2, 2, 5, 5), dtype=np.float32))


# ---------------------------------------------------------------------- shapes


def _conv_size(size: int, k: int, s: int, p_total: int, d: int) -> int:
    return (size + p_total - d * (k - 1) - 1) // s + 1


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("kwargs", "hw"),
    [
        ({"kernel_size": (2, 4), "padding": "same"}, (5, 6)),
        ({"kernel_size": (2, 3), "padding": "same", "dilation": (3, 2)}, (7, 4)),
        ({"kernel_size": 3, "stride": (2, 3), "padding": (1, 2), "dilation": (1, 2)}, (9, 10)),
        ({"kernel_size": (1, 5), "stride": 3, "padding": "valid"}, (4, 11)),
        ({"kernel_size": 4, "stride": 2, "padding": 1, "padding_mode": "circular"}, (7, 6)),
    ],
)
def test_conv2d_output_shape_follows_torch_formula(
    kwargs: dict[str, object], hw: tuple[int, int]
) -> None:
    conv = nn.Conv2d(2, 3, **kwargs)  # type: ignore[arg-type]
    y = conv(_x(2, 2, *hw))
    if kwargs.get("padding") == "same":
        assert y.shape == (2, 3, *hw)
    else:
        pads = conv.padding if isinstance(conv.padding, tuple) else (0, 0)
        expected = tuple(
            _conv_size(hw[a], conv.kernel_size[a], conv.stride[a], 2 * pads[a], conv.dilation[a])
            for a in range(2)
        )
        assert y.shape == (2, 3, *expected)
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    assert tuple(to_torch(conv)(torch.from_numpy(_x(2, 2, *hw))).shape) == y.shape


@pytest.mark.parametrize(
    ("kwargs", "hw"),
    [
        ({"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, (4, 5)),
        (
            {"kernel_size": (2, 3), "stride": (3, 1), "dilation": (1, 2), "output_padding": (2, 1)},
            (3, 2),
        ),
        ({"kernel_size": 4, "stride": 2, "padding": 3}, (5, 5)),
    ],
)
def test_conv_transpose2d_output_shape(kwargs: dict[str, object], hw: tuple[int, int]) -> None:
    conv = nn.ConvTranspose2d(2, 4, **kwargs)  # type: ignore[arg-type]
    y = conv(_x(1, 2, *hw))
    expected = tuple(
        (hw[a] - 1) * conv.stride[a]
        - 2 * conv.padding[a]  # type: ignore[index]
        + conv.dilation[a] * (conv.kernel_size[a] - 1)
        + conv.output_padding[a]
        + 1
        for a in range(2)
    )
    assert y.shape == (1, 4, *expected)
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    assert tuple(to_torch(conv)(torch.from_numpy(_x(1, 2, *hw))).shape) == y.shape


def test_conv_transpose2d_output_size_argument() -> None:
    conv = nn.ConvTranspose2d(1, 1, 3, stride=3)
    x = _x(1, 1, 2, 2)
    assert conv(x).shape == (1, 1, 6, 6)
    assert conv(x, output_size=(7, 8)).shape == (1, 1, 7, 8)
    with pytest.raises(ValueError, match=r"requested output size \(9, 6\) is not between"):
        conv(x, output_size=(9, 6))


def test_unbatched_input_is_the_batch_of_one() -> None:
    for conv, x in [
        (nn.Conv2d(2, 3, 3, padding=1, generator=0), _x(2, 5, 4)),
        (nn.Conv1d(2, 3, 3, stride=2, generator=0), _x(2, 7)),
        (nn.ConvTranspose2d(2, 3, 2, stride=2, generator=0), _x(2, 3, 3)),
    ]:
        y = conv(x)
        g = _x(*y.shape)
        gx = conv.backward(g)
        conv.zero_grad()
        yb = conv(x[None])
        gxb = conv.backward(g[None])
        np.testing.assert_array_equal(y, yb[0])
        np.testing.assert_array_equal(gx, gxb[0])
        assert gx.shape == x.shape


# ---------------------------------------------------------------------- known values


def test_conv2d_by_hand() -> None:
    """y[p, q] = x[p, q] - x[p+1, q+1] for the kernel [[1, 0], [0, -1]]."""
    conv = nn.Conv2d(1, 1, 2, bias=True).double()
    conv.weight.data[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]
    conv.bias.data[...] = 0.5  # type: ignore[union-attr]
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    np.testing.assert_array_equal(conv(x), np.full((1, 1, 2, 2), -4.0 + 0.5))
    grad_x = conv.backward(np.ones((1, 1, 2, 2)))
    # Each output adds +1 to its window's top-left element and -1 to its bottom-right.
    np.testing.assert_array_equal(grad_x[0, 0], [[1, 1, 0], [1, 0, -1], [0, -1, -1]])
    # ∂L/∂w[i, j] = Σ_{p, q} x[p + i, q + j]: the sums of the four 2×2 blocks.
    np.testing.assert_array_equal(conv.weight.grad[0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(conv.bias.grad, [4.0])  # type: ignore[union-attr]


def test_conv2d_same_padding_puts_the_odd_row_at_the_bottom() -> None:
    """Kernel [[0, 0], [0, 1]] with 'same' padding reads x[p + 0, q + 0] shifted by the
    left/top padding, which is 0: the extra padding row/column is at the bottom/right."""
    conv = nn.Conv2d(1, 1, 2, padding="same", bias=False).double()
    conv.weight.data[...] = [[[[1.0, 0.0], [0.0, 0.0]]]]
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(conv(x), x)


def test_conv1d_by_hand() -> None:
    conv = nn.Conv1d(1, 1, 3, stride=2, padding=1, bias=False).double()
    conv.weight.data[...] = [[[1.0, 2.0, 3.0]]]
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    # windows over [0, 1, 2, 3, 4, 0]: [0, 1, 2] and [2, 3, 4]
    np.testing.assert_array_equal(conv(x), [[[0 + 2 + 6, 2 + 6 + 12]]])


def test_conv_transpose2d_by_hand() -> None:
    """Each input element scatters x · w into its own 2×2 patch (stride 2: no overlap)."""
    conv = nn.ConvTranspose2d(1, 1, 2, stride=2, bias=False).double()
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    conv.weight.data[...] = w
    y = conv(np.array([[[[1.0, 10.0]]]]))
    np.testing.assert_array_equal(y[0, 0], np.hstack([w, 10 * w]))
    grad_x = conv.backward(np.ones((1, 1, 2, 4)))
    np.testing.assert_array_equal(grad_x, [[[[10.0, 10.0]]]])
    np.testing.assert_array_equal(conv.weight.grad[0, 0], [[11.0, 11.0], [11.0, 11.0]])


def test_conv_transpose_is_the_adjoint_of_conv() -> None:
    """⟨conv(x), z⟩ = ⟨x, conv_transpose(z)⟩ with the same weight, stride and padding."""
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False, generator=0).double()
    tconv = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, bias=False).double()
    tconv.weight.data[...] = conv.weight.data
    x = rng.standard_normal((2, 2, 7, 7))
    y = conv(x)
    z = rng.standard_normal(y.shape)
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * tconv(z)), rtol=1e-12)


def test_skipping_the_input_gradient_keeps_the_parameter_gradients() -> None:
    x = _x(2, 2, 6, 6, dtype=np.float64)
    for make in (
        lambda: nn.Conv2d(2, 3, 3, padding=1, generator=0),
        lambda: nn.Conv1d(2, 3, 3, generator=0),
        lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, generator=0),
    ):
        full, skipping = make().double(), make().double()
        skipping.needs_input_grad = False
        xi = x[:, :, 0] if isinstance(full, nn.Conv1d) else x
        y = full(xi)
        g = np.cos(np.arange(y.size)).reshape(y.shape)
        assert full.backward(g) is not None
        skipping(xi)
        assert skipping.backward(g) is None
        for (name, p), q in zip(full.named_parameters(), skipping.parameters(), strict=True):
            np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)


# ---------------------------------------------------------------------- init and dtype


@pytest.mark.parametrize(
    ("conv", "fan_in"),
    [
        (nn.Conv2d(4, 6, (3, 2), groups=2, generator=0), 2 * 3 * 2),
        (nn.Conv1d(3, 8, 5, generator=0), 3 * 5),
        (nn.ConvTranspose2d(4, 6, 3, groups=2, generator=0), 3 * 3 * 3),
    ],
)
def test_default_init_is_torch_kaiming_uniform(conv: nn.Module, fan_in: int) -> None:
    bound = 1 / math.sqrt(fan_in)
    weight, bias = conv.weight.data, conv.bias.data  # type: ignore[attr-defined]
    assert weight.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    assert np.abs(weight).max() > 0.5 * bound


def test_same_seed_same_weights() -> None:
    a, b = nn.Conv2d(2, 3, 3, generator=7), nn.Conv2d(2, 3, 3, generator=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)  # type: ignore[union-attr]


def test_float64_layer() -> None:
    conv = nn.Conv2d(1, 2, 3, dtype=np.float64)
    y = conv(np.ones((1, 1, 4, 4)))
    assert y.dtype == np.float64
    assert conv.backward(np.ones_like(y)).dtype == np.float64


# ---------------------------------------------------------------------- chunking and layout


@pytest.mark.parametrize("chunk_bytes", [1, 3000])
def test_results_do_not_depend_on_the_chunk_size(
    chunk_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forward and backward process a few output rows at a time; tiny chunks (one row,
    an uneven last chunk) must give the results of one big chunk."""
    monkeypatch.setattr(conv_kernels, "SMALL_PRODUCT", 0)  # no tap-by-tap shortcut
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 9, 8))
    results = []
    for budget in (1 << 30, chunk_bytes):
        monkeypatch.setattr(conv_kernels, "CHUNK_BYTES", budget)
        conv = nn.Conv2d(4, 6, 3, stride=(2, 1), padding=2, dilation=(2, 1), groups=2, generator=0)
        conv.double()
        y = conv(x)
        gx = conv.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        tconv = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, generator=0)
        tconv.double()
        ty = tconv(x)
        tgx = tconv.backward(np.sin(np.arange(ty.size)).reshape(ty.shape))
        results.append([y, gx, conv.weight.grad, ty, tgx, tconv.weight.grad])
    for big, small in zip(*results, strict=True):
        np.testing.assert_allclose(small, big, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "output_padding"),
    [(1, 0, 1, 0), ((2, 1), 2, (2, 1), 0), (2, 1, 1, 1), (3, (0, 2), (1, 2), (2, 1))],
)
def test_input_gradient_tap_by_tap_equals_gemm_and_col2im(
    stride: object,
    padding: object,
    dilation: object,
    output_padding: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Small convolutions form their input gradient (and transposed convolutions their
    output) one kernel tap at a time; it must equal one GEMM followed by col2im."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 9, 8))
    results = []
    for limit in (conv_kernels.SMALL_PRODUCT, 0):
        monkeypatch.setattr(conv_kernels, "SMALL_PRODUCT", limit)
        conv = nn.Conv2d(4, 5, 3, stride=stride, padding=padding, dilation=dilation, generator=0)
        conv.double()
        y = conv(x)
        gx = conv.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        tconv = nn.ConvTranspose2d(
            4,
            2,
            3,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
            generator=0,
        ).double()
        ty = tconv(x)
        tgx = tconv.backward(np.sin(np.arange(ty.size)).reshape(ty.shape))
        results.append([gx, ty, tgx])
    for taps, gemm in zip(*results, strict=True):
        np.testing.assert_allclose(taps, gemm, rtol=1e-12, atol=1e-12)


def test_output_is_batch_innermost_and_feeds_the_next_layer_without_copies() -> None:
    """The documented layout: memory (C, H, W, N); a second convolution accepts it."""
    conv = nn.Conv2d(2, 3, 3, padding=1, generator=0)
    y = conv(_x(4, 2, 5, 5))
    assert y.transpose(1, 2, 3, 0).flags.c_contiguous
    z = nn.Conv2d(3, 2, 3, generator=0)(y)
    assert z.shape == (4, 2, 3, 3)


def test_layout_of_the_input_does_not_change_results() -> None:
    x = _x(3, 2, 6, 5, dtype=np.float64)
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, generator=0).double()
    g = _x(3, 4, 3, 3, dtype=np.float64)
    y1, gx1 = conv(x), conv.backward(g)
    w1 = conv.weight.grad.copy()
    conv.zero_grad()
    x_chwn = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    y2, gx2 = conv(x_chwn), conv.backward(np.asfortranarray(g))
    np.testing.assert_allclose(y2, y1, rtol=1e-13)
    np.testing.assert_allclose(gx2, gx1, rtol=1e-13)
    np.testing.assert_allclose(conv.weight.grad, w1, rtol=1e-13)


# ---------------------------------------------------------------------- interop


def test_round_trip_through_torch_keeps_every_option() -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import from_torch, to_torch

    for conv in [
        nn.Conv2d(
            2,
            4,
            (2, 3),
            padding="same",
            dilation=(2, 1),
            groups=2,
            bias=False,
            padding_mode="replicate",
            generator=0,
        ),
        nn.Conv1d(3, 3, 4, stride=2, padding=1, groups=3, padding_mode="circular", generator=0),
        nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, dilation=2, generator=0),
    ]:
        back = from_torch(to_torch(conv))
        assert repr(back) == repr(conv)
        for key, value in conv.state_dict().items():
            np.testing.assert_array_equal(back.state_dict()[key], value)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_functional_forms_match_torch() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    import refnet.nn.functional as F

    rng = np.random.default_rng(4)
    x, w, b = (
        rng.standard_normal((2, 4, 7, 6)),
        rng.standard_normal((6, 2, 3, 2)),
        rng.standard_normal(6),
    )
    t = torch.from_numpy
    for kwargs in [
        {"stride": 2, "padding": 1, "dilation": (1, 2), "groups": 2},
        {"padding": "same", "groups": 2},
        {"padding": "valid", "stride": (1, 3), "groups": 2},
    ]:
        ours = F.conv2d(x, w, b, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_allclose(ours, TF.conv2d(t(x), t(w), t(b), **kwargs).numpy(), rtol=1e-12)
        # The unbatched call is the same sums in products of another shape, so BLAS may
        # block them differently: equal to a few ulps, not bit for bit.
        unbatched = F.conv2d(x[0], w, b, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_allclose(unbatched, ours[0], rtol=1e-13, atol=1e-14)
    w1 = rng.standard_normal((3, 4, 3))
    np.testing.assert_allclose(
        F.conv1d(x[:, :, 0], w1, None, stride=2, padding=1, dilation=2),
        TF.conv1d(t(x[:, :, 0]), t(w1), None, stride=2, padding=1, dilation=2).numpy(),
        rtol=1e-12,
    )
    wt = rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_allclose(
        F.conv_transpose2d(
            x, wt, None, stride=2, padding=1, output_padding=1, groups=1, dilation=1
        ),
        TF.conv_transpose2d(t(x), t(wt), None, stride=2, padding=1, output_padding=1).numpy(),
        rtol=1e-12,
    )


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_of_channels_on_threads_give_the_single_block_result(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """im2col and col2im run in blocks of channels on refnet's threads for large inputs;
    cut small ones into many blocks (lowered thresholds) and compare with one block."""
    from refnet import _parallel

    monkeypatch.setattr(conv_kernels, "SMALL_PRODUCT", 0)  # no tap-by-tap shortcut
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 6, 7, 8))
    results = []
    for blocks in (False, True):
        if blocks:
            monkeypatch.setattr(_parallel, "MIN_ELEMENTS", 16)
            monkeypatch.setattr(_parallel, "BLOCK_BYTES", 256)
            monkeypatch.setattr(_parallel, "_threads", threads)
        conv = nn.Conv2d(6, 4, 3, stride=(1, 2), padding=1, groups=2, generator=0).double()
        y = conv(x)
        gx = conv.backward(np.cos(np.arange(y.size)).reshape(y.shape))
        tconv = nn.ConvTranspose2d(6, 2, 3, stride=2, generator=0).double()
        ty = tconv(x)
        tgx = tconv.backward(np.sin(np.arange(ty.size)).reshape(ty.shape))
        results.append([y, gx, conv.weight.grad, ty, tgx, tconv.weight.grad])
    for one, many in zip(*results, strict=True):
        np.testing.assert_allclose(many, one, rtol=1e-13, atol=1e-13)


def test_each_forward_reuses_the_previous_column_matrix_and_stays_correct() -> None:
    """The layer writes its im2col matrix into the previous forward's memory once that
    forward's backward has run; gradients must still be those of the latest input,
    whatever the batch sizes in between."""
    rng = np.random.default_rng(21)
    conv = nn.Conv2d(2, 3, 3, padding=1, generator=0).double()
    fresh = nn.Conv2d(2, 3, 3, padding=1, generator=0).double()
    first = conv(rng.standard_normal((4, 2, 5, 5)))
    memory = conv._cache.columns
    conv.backward(np.ones_like(first))
    for batch in (4, 2, 4, 5):
        x = rng.standard_normal((batch, 2, 5, 5))
        g = rng.standard_normal((batch, 3, 5, 5))
        conv.zero_grad()
        fresh.zero_grad()
        np.testing.assert_allclose(conv(x), fresh(x), rtol=1e-13)
        if batch <= 4:
            assert np.shares_memory(conv._cache.columns, memory)
        np.testing.assert_allclose(conv.backward(g), fresh.backward(g), rtol=1e-13)
        np.testing.assert_allclose(conv.weight.grad, fresh.weight.grad, rtol=1e-13)
        np.testing.assert_allclose(conv.bias.grad, fresh.bias.grad, rtol=1e-13)
    assert first.shape == (4, 3, 5, 5)


def test_a_call_that_waits_for_its_backward_keeps_its_column_matrix() -> None:
    """Two forwards before their backwards (a shared layer): the second may not reuse the
    first's memory, and each backward gets its own call's gradient."""
    rng = np.random.default_rng(22)
    conv = nn.Conv2d(2, 3, 3, padding=1, generator=0).double()
    alone = nn.Conv2d(2, 3, 3, padding=1, generator=0).double()
    x1, x2 = rng.standard_normal((2, 2, 2, 5, 5))
    g1, g2 = rng.standard_normal((2, 2, 3, 5, 5))
    conv(x1)
    memory = conv._cache.columns
    conv(x2)
    assert not np.shares_memory(conv._cache.columns, memory)
    grad2, grad1 = conv.backward(g2), conv.backward(g1)
    alone(x1)
    np.testing.assert_allclose(grad1, alone.backward(g1), rtol=1e-13)
    alone(x2)
    np.testing.assert_allclose(grad2, alone.backward(g2), rtol=1e-13)
    np.testing.assert_allclose(conv.weight.grad, alone.weight.grad, rtol=1e-12)


@pytest.mark.parametrize("layer", [nn.Conv2d, nn.Conv1d, nn.ConvTranspose2d])
@pytest.mark.parametrize("field", ["stride", "padding", "dilation", "kernel_size", "groups"])
def test_geometry_fixed_at_construction_is_refused_later(
    layer: type[nn.Module], field: str
) -> None:
    """Issue 19: changing stride after construction changed the repr but not the output;
    now it is refused, and the layer computes as before."""
    conv = layer(2, 4, 3, generator=0)
    x = np.random.default_rng(0).standard_normal((1, 2, 7) if layer is nn.Conv1d else (1, 2, 7, 7))
    before, y = repr(conv), conv(x.astype(np.float32))
    name = layer.__name__
    with pytest.raises(AttributeError, match=rf"{name}\(.*\): {field} is fixed at construction"):
        setattr(conv, field, 2)
    assert repr(conv) == before
    np.testing.assert_array_equal(conv(x.astype(np.float32)), y)


# ---------------------------------------------------------------------- limits, against torch


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("output_padding", [0, 1, 2])
def test_output_padding_limit_is_torchs(stride: int, dilation: int, output_padding: int) -> None:
    """An output padding is refused iff it is at least both the stride and the dilation:
    refnet at construction, torch at the first call (issue 20, conv.py: ``op >= d`` as
    ``op > d`` survived, no test had output_padding == stride == dilation)."""
    torch = pytest.importorskip("torch")
    kwargs = {"stride": stride, "dilation": dilation, "output_padding": output_padding}
    theirs = torch.nn.ConvTranspose2d(1, 1, 2, **kwargs)
    try:
        expected = tuple(theirs(torch.zeros(1, 1, 3, 3)).shape)
    except RuntimeError as error:
        assert "output padding must be smaller" in str(error)
        with pytest.raises(ValueError, match="output_padding must be smaller than either"):
            nn.ConvTranspose2d(1, 1, 2, **kwargs)  # type: ignore[arg-type]
        assert output_padding >= stride and output_padding >= dilation
        return
    ours = nn.ConvTranspose2d(1, 1, 2, **kwargs)  # type: ignore[arg-type]
    assert ours(_x(1, 1, 3, 3)).shape == expected


@pytest.mark.parametrize(("padding", "hw"), [((1, 0), (1, 3)), ((0, 1), (3, 1))])
def test_transposed_output_empty_along_one_axis_is_refused_as_by_torch(
    padding: tuple[int, int], hw: tuple[int, int]
) -> None:
    """One empty axis is enough (issue 20, conv.py: ``out[0] < 1 or out[1] < 1`` as
    ``and`` survived)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="Output size is too small"):
        torch.nn.ConvTranspose2d(1, 1, 1, padding=padding)(torch.zeros(1, 1, *hw))
    with pytest.raises(ValueError, match="which is empty"):
        nn.ConvTranspose2d(1, 1, 1, padding=padding)(_x(1, 1, *hw))


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(1, 2, 3, padding_mode="reflect"),
        nn.Conv2d(2, 2, 3, padding=1, groups=2, padding_mode="replicate"),
        nn.Conv1d(1, 2, 3, padding_mode="circular"),
    ],
    ids=repr,
)
def test_repr_names_a_padding_mode_other_than_zeros_as_torch(conv: nn.Module) -> None:
    """(issue 20, conv.py: the padding_mode part of the repr, ``s +=`` as ``s =``, survived.)"""
    pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    assert repr(conv) == repr(to_torch(conv))
    assert "padding_mode=" in repr(conv)


@pytest.mark.parametrize("dims", [1, 2])
def test_output_size_argument_at_and_past_its_limits_as_torch(dims: int) -> None:
    """Every requested size from one below the smallest to one past the largest, on an
    input whose height and width differ: refnet takes the ones torch takes, with torch's
    output (issue 20, conv.py: ``low <= size`` as ``low < size`` and the smallest size
    computed from ``x.shape[3]`` for ``x.shape[2]`` survived; the tests used square inputs
    and sizes inside the range)."""
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    if dims == 2:
        conv: nn.Module = nn.ConvTranspose2d(1, 1, 3, stride=(2, 3), padding=(1, 0), generator=0)
        x, low = _x(1, 1, 2, 4, dtype=np.float64), (1, 12)
    else:
        conv = nn.ConvTranspose1d(1, 1, 3, stride=3, padding=1, generator=0)
        x, low = _x(1, 1, 4, dtype=np.float64), (7,)
    conv = conv.double()
    theirs = to_torch(conv)
    stride = conv.stride
    for size in itertools.product(
        *(range(m - 1, m + s + 1) for m, s in zip(low, stride, strict=True))
    ):
        try:
            expected = theirs(torch.from_numpy(x), output_size=list(size)).detach().numpy()
        except (RuntimeError, ValueError):
            with pytest.raises(ValueError, match="is not between"):
                conv(x, output_size=size)
            continue
        np.testing.assert_allclose(conv(x, output_size=size), expected, rtol=1e-12)
