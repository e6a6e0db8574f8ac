"""The convolution modules at their limits, against torch: gradients accumulated over two
backward passes, reflect and circular padding exactly at the input's size, empty spatial
input to a transposed convolution, the output-size messages, a full (N, C, …) output_size,
and Conv3d's 'same' padding with even kernels and dilation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
from tests.cases.registry import ModuleCase
from tests.torch_utils import check_module_against_torch

torch = pytest.importorskip("torch")
from refnet.interop.torch import to_torch  # noqa: E402


def _float32_zeros(*shape: int) -> np.ndarray:
    return np.zeros(shape, dtype=np.float32)


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv1d(2, 3, 2, generator=0),
        nn.Conv2d(2, 3, 2, generator=0),
        nn.Conv3d(2, 3, 2, generator=0),
        nn.ConvTranspose2d(2, 3, 2, generator=0),
        nn.ConvTranspose3d(2, 3, 2, generator=0),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_two_backward_passes_add_their_parameter_gradients_as_torch(layer: Any) -> None:
    layer = layer.double()
    theirs = to_torch(layer)
    rng = np.random.default_rng(0)
    spatial = {"Conv1d": (5,), "Conv3d": (3, 4, 3), "ConvTranspose3d": (3, 4, 3)}
    shape = (2, 2, *spatial.get(type(layer).__name__, (4, 5)))
    for _ in range(2):
        x = rng.normal(size=shape)
        y = layer(x)
        G = rng.normal(size=y.shape)
        layer.backward(G)
        theirs(torch.from_numpy(x)).backward(torch.from_numpy(G))
    for name, param in dict(theirs.named_parameters()).items():
        assert param.grad is not None
        ours = dict(layer.named_parameters())[name].grad
        np.testing.assert_allclose(ours, param.grad.numpy(), rtol=1e-12, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("padding", [(4, 1), (1, 6)])
def test_circular_padding_of_the_input_size_is_taken_as_by_torch(padding: tuple[int, int]) -> None:
    """Circular padding may equal the input's size (one full wrap)."""
    layer = nn.Conv2d(1, 2, 3, padding=padding, padding_mode="circular", generator=1).double()
    x = np.random.default_rng(1).normal(size=(2, 1, 4, 6))
    check_module_against_torch(ModuleCase(layer, x), np.float64)


@pytest.mark.parametrize(
    ("mode", "padding", "message"),
    [
        ("reflect", (4, 1), "reflect padding .* must be smaller than the input size"),
        ("reflect", (1, 6), "reflect padding .* must be smaller than the input size"),
        ("circular", (5, 1), "circular padding .* must be at most the input size"),
        ("circular", (1, 7), "circular padding .* must be at most the input size"),
    ],
)
def test_padding_past_its_limit_is_refused_as_by_torch(
    mode: str, padding: tuple[int, int], message: str
) -> None:
    """Reflect padding must be smaller than the input (4 x 6 here), circular at most it."""
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode)(torch.zeros(1, 1, 4, 6))
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(1, 1, 3, padding=padding, padding_mode=mode)(_float32_zeros(1, 1, 4, 6))


@pytest.mark.parametrize("padding", [(1, 1, 4), (1, 5, 1)])
def test_circular_padding_of_a_3d_input_past_its_size_names_the_limit(
    padding: tuple[int, int, int],
) -> None:
    with pytest.raises(RuntimeError):
        torch.nn.Conv3d(1, 1, 3, padding=padding, padding_mode="circular")(
            torch.zeros(1, 1, 3, 4, 3)
        )
    layer = nn.Conv3d(1, 1, 3, padding=padding, padding_mode="circular")
    with pytest.raises(ValueError, match=r"circular padding .* must be at most the input size"):
        layer(_float32_zeros(1, 1, 3, 4, 3))


@pytest.mark.parametrize("shape", [(1, 1, 0, 4), (1, 1, 4, 0)])
def test_a_transposed_convolution_refuses_an_empty_height_or_width_as_torch(
    shape: tuple[int, ...],
) -> None:
    with pytest.raises(RuntimeError, match="Only zero batch or zero channel"):
        torch.nn.ConvTranspose2d(1, 1, 3)(torch.zeros(shape))
    with pytest.raises(ValueError, match="non-empty spatial input"):
        nn.ConvTranspose2d(1, 1, 3)(_float32_zeros(*shape))


def test_an_empty_transposed_output_names_the_input_size() -> None:
    layer = nn.ConvTranspose2d(1, 1, 1, padding=1)
    with pytest.raises(ValueError, match=r"input of size \(1, 3\) gives an output of size"):
        layer(_float32_zeros(1, 1, 1, 3))


@pytest.mark.parametrize(
    ("layer", "shape", "wanted", "message"),
    [
        (nn.ConvTranspose2d(1, 1, 3, stride=2), (1, 1, 3, 3), (9, 7), r"\(7, 7\) and \(8, 8\)"),
        (
            nn.ConvTranspose3d(1, 1, 3, stride=2),
            (1, 1, 3, 3, 3),
            (9, 7, 7),
            r"\(7, 7, 7\) and \(8, 8, 8\)",
        ),
    ],
)
def test_an_output_size_out_of_range_names_the_range_torch_names(
    layer: Any, shape: tuple[int, ...], wanted: tuple[int, ...], message: str
) -> None:
    """torch: "valid sizes range from [7, 7] to [8, 8]"; refnet names the same range."""
    with pytest.raises(ValueError, match="valid sizes range from"):
        to_torch(layer)(torch.zeros(shape), output_size=wanted)
    with pytest.raises(ValueError, match=message):
        layer(_float32_zeros(*shape), output_size=wanted)


def test_conv_transpose3d_takes_an_output_size_with_batch_and_channels_as_torch() -> None:
    layer = nn.ConvTranspose3d(2, 1, 3, stride=2, generator=2).double()
    x = np.random.default_rng(2).normal(size=(1, 2, 3, 3, 3))
    wanted = (1, 1, 8, 7, 8)
    expected = to_torch(layer)(torch.from_numpy(x), output_size=wanted)
    np.testing.assert_allclose(
        layer(x, output_size=wanted), expected.detach().numpy(), rtol=1e-12, atol=1e-14
    )


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize(
    ("kernel", "dilation"), [((2, 3, 4), (1, 1, 1)), ((2, 3, 2), (1, 2, 3)), ((3, 2, 1), 2)]
)
def test_conv3d_same_padding_with_even_kernels_and_dilation_as_torch(
    kernel: tuple[int, int, int], dilation: Any
) -> None:
    layer = nn.Conv3d(2, 3, kernel, padding="same", dilation=dilation, generator=3).double()
    x = np.random.default_rng(3).normal(size=(2, 2, 5, 6, 7))
    check_module_against_torch(ModuleCase(layer, x), np.float64)
    assert layer(x).shape[2:] == x.shape[2:]
