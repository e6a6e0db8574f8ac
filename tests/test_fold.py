"""F.unfold / F.fold and their backward siblings against torch.nn.functional and torch's
autograd, against the reference loops, and the identity that makes unfold the column
matrix of a convolution. The layers' generic properties come from tests/cases/fold.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.nn.functional import blocks as B

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@st.composite
def problems(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[int, int], tuple[int, int]]:
    sizes: list[int] = []
    blocks: list[int] = []
    args: dict[str, Any] = {}
    ks: list[int] = []
    ds: list[int] = []
    ps: list[int] = []
    ss: list[int] = []
    for _ in range(2):
        k, d, p, s = (
            draw(st.integers(1, 3)),
            draw(st.integers(1, 2)),
            draw(st.integers(0, 2)),
            draw(st.integers(1, 3)),
        )
        low = max(1, d * (k - 1) + 1 - 2 * p)
        n = draw(st.integers(low, low + 4))
        ks.append(k)
        ds.append(d)
        ps.append(p)
        ss.append(s)
        sizes.append(n)
        blocks.append((n + 2 * p - d * (k - 1) - 1) // s + 1)
    for name, pair in zip(
        ("kernel_size", "dilation", "padding", "stride"), (ks, ds, ps, ss), strict=True
    ):
        args[name] = tuple(pair)
    return args, (sizes[0], sizes[1]), (blocks[0], blocks[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(problem=problems(), batched=st.booleans(), seed=st.integers(0, 2**16))
def test_unfold_fold_and_their_backwards_match_torch(
    dtype: Any, problem: Any, batched: bool, seed: int
) -> None:
    args, size, (ho, wo) = problem
    rng = np.random.default_rng(seed)
    lead = (2,) if batched else ()
    x = rng.normal(size=(*lead, 3, *size)).astype(dtype)
    tol = 1e-12 if dtype == np.float64 else 1e-5

    t = torch.tensor(x, requires_grad=True)
    ty = TF.unfold(t, **args)
    y = F.unfold(x, **args)
    g = rng.normal(size=y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(F.unfold_backward(g, x, **args), t.grad.numpy(), rtol=tol, atol=tol)

    k = args["kernel_size"][0] * args["kernel_size"][1]
    cols = rng.normal(size=(*lead, 2 * k, ho * wo)).astype(dtype)
    t = torch.tensor(cols, requires_grad=True)
    ty = TF.fold(t, size, **args)
    y = F.fold(cols, size, **args)
    g = rng.normal(size=y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    dcols = F.fold_backward(g, cols, size, **args)
    np.testing.assert_allclose(dcols, t.grad.numpy(), rtol=tol, atol=tol)


@given(problem=problems(), seed=st.integers(0, 2**16))
def test_the_kernels_equal_the_reference_loops(problem: Any, seed: int) -> None:
    args, size, (ho, wo) = problem
    rng = np.random.default_rng(seed)
    geometry = B.block_geometry(size, owner="test", **args)
    x = rng.normal(size=(2, 3, *size))
    np.testing.assert_array_equal(B.unfold_columns(x, geometry), B.unfold_reference(x, geometry))
    cols = rng.normal(size=(2, 3 * geometry.kernel_elements, ho * wo))
    np.testing.assert_allclose(
        B.fold_columns(cols, geometry), B.fold_reference(cols, geometry), rtol=1e-12, atol=1e-12
    )


@given(problem=problems(), seed=st.integers(0, 2**16))
def test_a_convolution_is_its_weight_times_unfold(problem: Any, seed: int) -> None:
    """``conv2d(x, w) = w.reshape(O, -1) @ unfold(x)``, reshaped to the blocks."""
    args, size, (ho, wo) = problem
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, *size))
    w = rng.normal(size=(4, 3, *args["kernel_size"]))
    by_unfold = (w.reshape(4, -1) @ F.unfold(x, **args)).reshape(2, 4, ho, wo)
    conv = F.conv2d(x, w, None, args["stride"], args["padding"], args["dilation"])
    np.testing.assert_allclose(by_unfold, conv, rtol=1e-10, atol=1e-12)


def test_fold_of_unfold_counts_each_elements_copies() -> None:
    """fold(unfold(ones)) is how many blocks hold each element: 1, 2, 1 along a 3-long
    axis with 2-wide blocks."""
    ones = np.ones((1, 1, 3, 3))
    counts = F.fold(F.unfold(ones, 2), (3, 3), 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: F.unfold(np.zeros((1, 2, 3, 3)), 4), "at least one"),
        (lambda: F.unfold(np.zeros((2, 3)), 2), "3-d"),
        (lambda: F.unfold(np.zeros((1, 2, 3, 3)), 2, stride=0), "stride must be at least 1"),
        (lambda: F.unfold(np.zeros((1, 2, 3, 3)), 2, padding=-1), "padding"),
        (lambda: F.fold(np.zeros((1, 5, 4)), 3, 2), "divisible"),
        (lambda: F.fold(np.zeros((1, 4, 5)), 3, 2), "sliding blocks"),
        (lambda: F.fold(np.zeros((1, 4, 5)), (3, 3, 3), 2), "pair of ints"),
        (lambda: F.unfold(np.zeros((1, 2, 3, 3)), (2.5, 2)), "pair of ints"),
        (lambda: F.unfold(np.zeros((1, 2, 3, 3)), True), "pair of ints"),
        (lambda: F.fold(np.zeros(4), 3, 2), "2-d"),
        (lambda: F.unfold(np.zeros((1, 0, 3, 3)), 2), "non-empty"),
        (lambda: F.fold(np.zeros((1, 0, 4)), 3, 2), "non-empty"),
        (lambda: F.fold(np.zeros((1, 4, 0)), 3, 2), "non-empty"),
    ],
)
def test_bad_arguments_are_refused(call: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_the_layers_keep_torchs_arguments_and_repr() -> None:
    for ours, theirs in [
        (nn.Unfold(2, padding=1), torch.nn.Unfold(2, padding=1)),
        (nn.Unfold((2, 3), 1, (0, 1), 2), torch.nn.Unfold((2, 3), 1, (0, 1), 2)),
        (nn.Fold((4, 5), 2, stride=2), torch.nn.Fold((4, 5), 2, stride=2)),
    ]:
        assert repr(ours) == repr(theirs)
    layer = nn.Fold(4, 2)
    with pytest.raises(ValueError, match=r"Fold\(output_size=4"):
        layer(np.zeros((1, 4, 5)))


@given(problem=problems(), seed=st.integers(0, 2**16))
def test_the_kernels_equal_the_references_in_many_blocks_of_channels(
    problem: Any, seed: int
) -> None:
    """col2im and im2col run block by block of channels on refnet's threads for large
    arrays; with the thresholds at their smallest, small ones take those paths too."""
    import refnet._parallel

    args, size, (ho, wo) = problem
    rng = np.random.default_rng(seed)
    geometry = B.block_geometry(size, owner="test", **args)
    x = rng.normal(size=(2, 5, *size))
    cols = rng.normal(size=(2, 5 * geometry.kernel_elements, ho * wo))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(refnet._parallel, "MIN_ELEMENTS", 1)
        mp.setattr(refnet._parallel, "BLOCK_BYTES", 64)
        unfolded = B.unfold_columns(x, geometry)
        folded = B.fold_columns(cols, geometry)
    np.testing.assert_array_equal(unfolded, B.unfold_reference(x, geometry))
    np.testing.assert_allclose(folded, B.fold_reference(cols, geometry), rtol=1e-12, atol=1e-12)


def test_the_backward_siblings_take_torchs_defaults() -> None:
    """dilation=1, padding=0, stride=1 when left out, as in F.unfold / F.fold."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4, 5))
    g = rng.normal(size=F.unfold(x, 2).shape)
    t = torch.tensor(x, requires_grad=True)
    TF.unfold(t, 2).backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.unfold_backward(g, x, 2), t.grad.numpy(), rtol=1e-12)
    cols = rng.normal(size=(2, 12, 12))
    g = rng.normal(size=(2, 3, 4, 5))
    t = torch.tensor(cols, requires_grad=True)
    TF.fold(t, (4, 5), 2).backward(torch.from_numpy(g))
    np.testing.assert_allclose(F.fold_backward(g, cols, (4, 5), 2), t.grad.numpy(), rtol=1e-12)


def test_an_empty_batch_gives_torchs_empty_output() -> None:
    x = np.zeros((0, 2, 3, 3))
    assert F.unfold(x, 2).shape == tuple(TF.unfold(torch.from_numpy(x), 2).shape)
    cols = np.zeros((0, 8, 4))
    assert F.fold(cols, 3, 2).shape == tuple(TF.fold(torch.from_numpy(cols), 3, 2).shape)


def test_an_empty_batch_passes_and_an_empty_block_is_refused_as_torch() -> None:
    """Zero samples is a batch like any other; a zero-size channel, row or block count is
    refused (the mutation run: the non-empty check could take in the batch axis, or miss
    the first of the others)."""
    assert nn.Unfold(2)(np.zeros((0, 2, 4, 4))).shape == (0, 8, 9)
    assert nn.Fold((3, 3), 2)(np.zeros((0, 8, 4))).shape == (0, 2, 3, 3)
    for shape in [(1, 0, 4, 4), (0, 4, 4)]:
        with pytest.raises(ValueError, match="non-empty"):
            nn.Unfold(2)(np.zeros(shape))
    for shape in [(1, 8, 0), (0, 4)]:
        with pytest.raises(ValueError, match="non-empty"):
            nn.Fold((3, 3), 2)(np.zeros(shape))
