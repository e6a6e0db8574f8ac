"""F.pad and the padding layers: fast kernel = reference loop, torch's values and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.testing import arrays

MODES = ["constant", "reflect", "replicate", "circular"]


@st.composite
def pad_problems(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...], str]:
    """An input, a pad tuple and a mode; retried until the pad is valid for the input."""
    mode = draw(st.sampled_from(MODES))
    k = draw(st.integers(1, 2))
    ndim = draw(st.sampled_from([k + 1, k + 2] if mode != "constant" else [k, k + 1, k + 2]))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    pad = tuple(draw(st.integers(-2, 4)) for _ in range(2 * k))
    try:
        F.pad_widths(shape, pad, mode)
    except ValueError:
        assume(False)
    return draw(arrays(shape)), pad, mode


@given(problem=pad_problems(), seed=st.integers(0, 2**31))
def test_fast_kernels_equal_the_reference_loops(
    problem: tuple[np.ndarray, tuple[int, ...], str], seed: int
) -> None:
    x, pad, mode = problem
    y = F.pad(x, pad, mode)
    np.testing.assert_array_equal(y, F.pad_reference(x, pad, mode))
    grad = np.random.default_rng(seed).standard_normal(y.shape)
    np.testing.assert_allclose(
        F.pad_backward(grad, x, pad, mode),
        F.pad_backward_reference(grad, x, pad, mode),
        rtol=1e-12,
        atol=1e-12,
    )


@given(problem=pad_problems(), seed=st.integers(0, 2**31))
def test_pad_and_its_backward_match_torch(
    problem: tuple[np.ndarray, tuple[int, ...], str], seed: int
) -> None:
    torch = pytest.importorskip("torch")
    x, pad, mode = problem
    y = F.pad(x, pad, mode)
    if y.size == 0:
        return  # torch refuses some empty outputs (see F.pad_widths)
    t = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.pad(t, pad, mode)
    grad = np.random.default_rng(seed).standard_normal(y.shape)
    expected.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y, expected.detach().numpy())
    np.testing.assert_allclose(F.pad_backward(grad, x, pad, mode), t.grad.numpy(), rtol=1e-12)


def test_constant_value_and_defaults() -> None:
    x = np.arange(3.0).reshape(1, 3)
    np.testing.assert_array_equal(F.pad(x, (1, 2), value=7.0), [[7.0, 0, 1, 2, 7.0, 7.0]])
    np.testing.assert_array_equal(F.pad(x, (1, 0)), [[0.0, 0, 1, 2]])
    np.testing.assert_array_equal(F.pad(x, (2, 2), "reflect"), [[2.0, 1, 0, 1, 2, 1, 0]])
    np.testing.assert_array_equal(F.pad(x, (2, 2), "replicate"), [[0.0, 0, 0, 1, 2, 2, 2]])
    np.testing.assert_array_equal(F.pad(x, (2, 2), "circular"), [[1.0, 2, 0, 1, 2, 0, 1]])


@pytest.mark.parametrize(
    ("shape", "pad", "mode", "value", "message"),
    [
        ((1, 3), (3, 0), "reflect", None, "less than the axis size"),
        ((1, 3), (0, 4), "circular", None, "wrap around more than once"),
        ((1, 3), (1, 1), "reflect", 1.0, "doesn't take a value"),
        ((1, 3), (1,), "constant", None, "even number"),
        ((3,), (1, 1), "reflect", None, r"2-d \(unbatched\) or 3-d \(batched\)"),
        ((1, 3), (1, 1, 1, 1, 1, 1), "constant", None, "pads 3 axes"),
        ((1, 3), (-2, -2), "constant", None, "crops more"),
        ((1, 3), (1, 1), "mirror", None, "mode must be one of"),
    ],
)
def test_invalid_padding_is_refused_clearly(
    shape: tuple[int, ...], pad: tuple[int, ...], mode: str, value: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        F.pad(np.zeros(shape), pad, mode, value)


def test_layer_errors_name_the_layer_and_the_widths() -> None:
    with pytest.raises(ValueError, match=r"ReflectionPad2d\(\(1, 1, 3, 3\)\).*less than"):
        nn.ReflectionPad2d((1, 1, 3, 3))(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match="ZeroPad2d: padding must be an int or 4 ints"):
        nn.ZeroPad2d((1, 2))


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (nn.ReflectionPad2d((1, 2, 2, 0)), (2, 3, 4, 5)),
        (nn.CircularPad1d(2), (2, 3, 5)),
        (nn.ConstantPad2d(1, -1.5), (2, 3, 4, 5)),
    ],
    ids=lambda v: repr(v) if isinstance(v, nn.Module) else str(v),
)
def test_unbatched_input_is_one_sample_of_a_batch(layer: nn.Module, shape: tuple[int, ...]) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(layer(x[1]), layer(x)[1])


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("ZeroPad2d", (1,)),
        ("ConstantPad1d", (2, 3.5)),
        ("ConstantPad3d", ((1, 0, 2, 1, 0, 3), -1.0)),
        ("ReflectionPad2d", ((1, 0, 2, 1),)),
        ("ReplicationPad1d", (3,)),
        ("CircularPad3d", (1,)),
    ],
)
def test_repr_is_torchs(name: str, args: tuple[object, ...]) -> None:
    """Only the ConstantPad layers print their value (the mutation run: the repr's rule
    could be loosened either way unnoticed)."""
    torch = pytest.importorskip("torch")
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


EDGE_CASES = [
    ((0, 2, 5), (1, 1), "reflect"),  # an empty batch is taken
    ((0, 5), (1, 1), "reflect"),  # an empty channel axis, unbatched, is not
    ((2, 0, 5), (1, 1), "replicate"),
    ((2, 3, 0), (1, 1), "constant"),  # constant padding of an empty axis
    ((2, 3, 5), (-2, -3), "constant"),  # cropped to nothing
    ((2, 3, 5), (-3, -3), "constant"),  # cropped past nothing
    ((2, 3, 5), (-6, 2), "constant"),  # one side crops more than the axis holds
    ((2, 3, 5), (2, -6), "constant"),  # the other side
    ((2, 3, 5), (2, -1), "constant"),  # padded on one side, cropped on the other
    ((2, 3, 5), (-1, 2), "replicate"),
    ((2, 3, 5), (-2, -3), "circular"),
    ((2, 3, 5), (-1, 2), "circular"),  # wraps the axis cropped on one side
    ((2, 3, 5), (2, -1), "circular"),
    ((2, 3, 5), (2, 3), "reflect"),
    ((2, 3, 5), (1, 1), "circular"),  # the wrap's offset (j - before) mod the size
    ((1, 1, 2, 2, 2, 2), (1,) * 8, "reflect"),  # four axes: only constant padding takes them
]


@pytest.mark.parametrize(("shape", "pad", "mode"), EDGE_CASES, ids=str)
def test_padding_at_the_edges_of_what_torch_takes(
    shape: tuple[int, ...], pad: tuple[int, int], mode: str
) -> None:
    """Empty axes and crops to (or past) nothing: torch's output shape, or a refusal
    where torch refuses."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=shape)
    try:
        expected = torch.nn.functional.pad(torch.from_numpy(x), pad, mode=mode).numpy()
    except RuntimeError:
        with pytest.raises(ValueError, match="pad"):
            F.pad(x, pad, mode=mode)
        return
    np.testing.assert_array_equal(F.pad(x, pad, mode=mode), expected)
    np.testing.assert_array_equal(F.pad_reference(x, pad, mode), expected)


def test_a_pad_longer_than_the_input_names_both() -> None:
    with pytest.raises(
        ValueError, match=r"pad of length 4 pads 2 axes, but the input has shape \(3,\)"
    ):
        F.pad(np.zeros(3), (1, 1, 1, 1))
