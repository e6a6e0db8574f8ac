"""Embedding: accumulation of repeated rows, padding_idx, max_norm, options vs torch, errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn import functional as F


def test_repeated_indices_accumulate() -> None:
    layer = nn.Embedding(4, 2, generator=0).double()
    indices = np.array([[1, 3, 1], [1, 0, 3]])
    layer(indices)
    g = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    assert layer.backward(g) is None
    expected = np.zeros((4, 2))
    expected[1] = g[0, 0] + g[0, 2] + g[1, 0]
    expected[3] = g[0, 1] + g[1, 2]
    expected[0] = g[1, 1]
    np.testing.assert_array_equal(layer.weight.grad, expected)


def test_the_scatter_equals_np_add_at_on_a_large_batch() -> None:
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 50, 5000)
    g = rng.standard_normal((5000, 8)).astype(np.float32)
    rows, sums = F.embedding_backward(indices, g)
    assert sums.dtype == np.float32
    dense = np.zeros((50, 8), dtype=np.float64)
    dense[rows] = sums
    expected = np.zeros((50, 8), dtype=np.float64)
    np.add.at(expected, indices, g.astype(np.float64))
    np.testing.assert_allclose(dense, expected, rtol=1e-6, atol=1e-5)


def test_padding_row_starts_at_zero_and_gets_no_gradient() -> None:
    layer = nn.Embedding(5, 3, padding_idx=-2, generator=0).double()
    assert layer.padding_idx == 3
    np.testing.assert_array_equal(layer.weight.data[3], 0.0)
    assert np.all(layer.weight.data[[0, 1, 2, 4]] != 0)
    indices = np.array([3, 1, 3, 3, 0])
    y = layer(indices)
    np.testing.assert_array_equal(y[[0, 2, 3]], 0.0)
    layer.backward(np.ones((5, 3)))
    np.testing.assert_array_equal(layer.weight.grad[3], 0.0)
    np.testing.assert_array_equal(layer.weight.grad[1], 1.0)
    np.testing.assert_array_equal(layer.weight.grad[0], 1.0)


def test_the_same_generator_gives_the_same_table() -> None:
    a = nn.Embedding(6, 3, generator=5).weight.data
    b = nn.Embedding(6, 3, generator=5).weight.data
    np.testing.assert_array_equal(a, b)
    assert abs(float(nn.Embedding(2000, 50, generator=0).weight.data.std()) - 1.0) < 0.01


def test_dtype_follows_the_table() -> None:
    layer = nn.Embedding(4, 3, generator=0)
    y = layer(np.array([0, 2], dtype=np.int32))
    assert y.dtype == np.float32 and y.shape == (2, 3)
    layer.backward(np.ones((2, 3), dtype=np.float32))
    assert layer.weight.grad.dtype == np.float32


def test_from_pretrained_copies_and_freezes() -> None:
    table = np.arange(6, dtype=np.float64).reshape(3, 2)
    layer = nn.Embedding.from_pretrained(table, padding_idx=1)
    assert layer.weight.requires_grad is False and layer.weight.dtype == np.float64
    np.testing.assert_array_equal(layer(np.array([1, 2])), [[2.0, 3.0], [4.0, 5.0]])
    layer.weight.data[0] = -1
    assert table[0, 0] == 0  # a copy
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("bad", [5, -1])
def test_an_index_out_of_range_names_the_range(bad: int) -> None:
    with pytest.raises(IndexError, match=rf"Embedding\(5, 2\): index {bad} .*\[0, 5\)"):
        nn.Embedding(5, 2)(np.array([0, bad, 1]))


def test_non_integer_indices_are_rejected() -> None:
    with pytest.raises(TypeError, match=r"Embedding\(5, 2\): expected integer indices.*float64"):
        nn.Embedding(5, 2)(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="NumPy array of indices, got list"):
        nn.Embedding(5, 2)([0, 1])


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match=r"padding_idx must be within num_embeddings.*got 5"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse=True"):
        nn.Embedding(5, 2, sparse=True)


def test_gradient_of_the_wrong_shape_is_rejected() -> None:
    layer = nn.Embedding(5, 2)
    layer(np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match=r"gradient of the output's shape \(1, 3, 2\)"):
        layer.backward(np.ones((3, 2), dtype=np.float32))


def test_repr_matches_torch() -> None:
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    layer = nn.Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)
    assert repr(layer) == (
        "Embedding(10, 3, padding_idx=0, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)"
    )


# ----------------------------------------------------------------------------- vs torch


def _against_torch(layer: nn.Embedding, indices: np.ndarray, steps: int = 2) -> None:
    """Forward, weight gradient and (renormalised) weight equal torch's over a few steps."""
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    theirs = to_torch(layer)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        layer.zero_grad()
        theirs.zero_grad()
        y = layer(indices)
        g = rng.standard_normal(y.shape).astype(y.dtype)
        layer.backward(g)
        ty = theirs(torch.from_numpy(indices))
        ty.backward(torch.from_numpy(g))
        rtol = 1e-12 if y.dtype == np.float64 else 1e-5
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(layer.weight.data, theirs.weight.detach().numpy(), rtol=rtol)
        np.testing.assert_allclose(
            layer.weight.grad, theirs.weight.grad.numpy(), rtol=rtol, atol=rtol
        )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_padding_and_repeats_match_torch(dtype: type[np.floating]) -> None:
    layer = nn.Embedding(7, 4, padding_idx=2, generator=0).to(dtype)
    indices = np.random.default_rng(0).integers(0, 7, (6, 9))
    _against_torch(layer, indices)


@pytest.mark.parametrize("padding_idx", [None, 1])
def test_scale_grad_by_freq_matches_torch(padding_idx: int | None) -> None:
    layer = nn.Embedding(6, 3, padding_idx=padding_idx, scale_grad_by_freq=True, generator=0)
    indices = np.array([[1, 1, 2, 5], [1, 5, 0, 0]])
    _against_torch(layer.double(), indices)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
def test_max_norm_renormalises_looked_up_rows_like_torch(norm_type: float) -> None:
    layer = nn.Embedding(8, 4, max_norm=1.5, norm_type=norm_type, generator=0).double()
    layer.weight.data *= 2  # most rows above max_norm
    before = layer.weight.data.copy()
    indices = np.array([[0, 3, 3], [5, 0, 6]])
    _against_torch(layer, indices, steps=1)
    untouched = [1, 2, 4, 7]
    np.testing.assert_array_equal(layer.weight.data[untouched], before[untouched])
    norms = np.linalg.norm(layer.weight.data[[0, 3, 5, 6]], ord=norm_type, axis=1)
    assert np.all(norms <= 1.5)


def test_round_trip_through_torch() -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import from_torch, to_torch

    layer = nn.Embedding(6, 3, padding_idx=2, max_norm=2.0, norm_type=1.0, generator=0)
    theirs = to_torch(layer)
    assert repr(theirs) == repr(layer)
    back = from_torch(theirs)
    assert repr(back) == repr(layer)
    np.testing.assert_array_equal(back.weight.data, layer.weight.data)


@pytest.mark.parametrize("sizes", [(0, 3), (1, 3), (5, 0), (-1, 3), (5, -1)], ids=str)
def test_table_sizes_are_taken_or_refused_as_by_torch(sizes: tuple[int, int]) -> None:
    """Empty tables and empty rows are torch's too; a negative size is refused."""
    torch = pytest.importorskip("torch")
    pairs = [(nn.Embedding, torch.nn.Embedding), (nn.EmbeddingBag, torch.nn.EmbeddingBag)]
    for ours_cls, theirs_cls in pairs:
        if min(sizes) < 0:
            with pytest.raises(RuntimeError):
                theirs_cls(*sizes)
            with pytest.raises(ValueError, match="must be non-negative"):
                ours_cls(*sizes)
        else:
            assert ours_cls(*sizes).weight.shape == tuple(theirs_cls(*sizes).weight.shape)


def test_lookups_of_no_index_and_of_one_index_out_of_range_as_torch() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Embedding(5, 3), torch.nn.Embedding(5, 3)
    empty = np.zeros(0, dtype=np.int64)
    assert ours(empty).shape == tuple(theirs(torch.from_numpy(empty)).shape) == (0, 3)
    for index in (5, -1):
        with pytest.raises(IndexError):
            theirs(torch.tensor([index]))
        with pytest.raises(IndexError, match=f"index {index} is out of range"):
            ours(np.array([index]))


@pytest.mark.parametrize("name", ["Embedding", "EmbeddingBag"])
def test_from_pretrained_takes_torchs_arguments_and_defaults(name: str) -> None:
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.nn, name).from_pretrained).parameters
    ours = inspect.signature(getattr(nn, name).from_pretrained).parameters
    assert list(ours) == list(theirs)  # the same names in the same order (positional use)
    assert {n: p.default for n, p in ours.items()} == {n: p.default for n, p in theirs.items()}


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_a_pretrained_bag_layer_looks_up_the_given_table_as_torchs(mode: str) -> None:
    """The table is copied in its dtype, the padding row kept as given (not zeroed), the
    weight frozen unless ``freeze=False``; the bags reduce it as torch's do."""
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(5).normal(size=(6, 3))
    indices, offsets = np.array([4, 1, 1, 5, 0, 2]), np.array([0, 2, 5])
    ours = nn.EmbeddingBag.from_pretrained(table, mode=mode, padding_idx=1)
    theirs = torch.nn.EmbeddingBag.from_pretrained(
        torch.from_numpy(table), mode=mode, padding_idx=1
    )
    assert ours.weight.dtype == np.float64 and ours.weight.requires_grad is False
    np.testing.assert_array_equal(ours.weight.data[1], table[1])
    expected = theirs(torch.from_numpy(indices), torch.from_numpy(offsets)).numpy()
    np.testing.assert_allclose(ours(indices, offsets), expected, rtol=1e-12)
    ours.weight.data[0] = -1
    assert table[0, 0] != -1  # a copy
    thawed = nn.EmbeddingBag.from_pretrained(table, freeze=False, include_last_offset=True)
    assert thawed.weight.requires_grad and thawed.include_last_offset


def test_from_pretrained_refuses_a_table_that_is_not_2d() -> None:
    for layer in (nn.Embedding, nn.EmbeddingBag):
        with pytest.raises(ValueError, match=r"from_pretrained: embeddings must be 2-D"):
            layer.from_pretrained(np.zeros(4))


def test_max_norm_renormalises_the_row_of_a_single_index_as_torch() -> None:
    torch = pytest.importorskip("torch")
    table = np.random.default_rng(4).normal(size=(5, 3)) * 3
    ours = nn.Embedding.from_pretrained(table.copy(), max_norm=1.0)
    theirs = torch.nn.Embedding.from_pretrained(torch.from_numpy(table.copy()), max_norm=1.0)
    out = ours(np.array([2]))
    np.testing.assert_allclose(out, theirs(torch.tensor([2])).detach().numpy(), rtol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(out), 1.0, rtol=1e-6)


def test_a_row_whose_norm_is_max_norm_is_left_alone_as_by_torch() -> None:
    """The bound is strict (``norm > max_norm``): a row at exactly max_norm keeps its
    values, where rescaling would move it by the 1e-7 of the divisor."""
    torch = pytest.importorskip("torch")
    table = np.array([[3.0, 4.0], [6.0, 8.0]])  # norms 5 and 10, exact in binary
    ours = nn.Embedding.from_pretrained(table.copy(), max_norm=5.0)
    theirs = torch.nn.Embedding.from_pretrained(torch.from_numpy(table.copy()), max_norm=5.0)
    np.testing.assert_array_equal(ours(np.array([0, 1])), theirs(torch.tensor([0, 1])).detach())
    np.testing.assert_array_equal(ours.weight.data, theirs.weight.detach())
    np.testing.assert_array_equal(ours.weight.data[0], [3.0, 4.0])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_a_bag_layer_with_no_bags_looks_nothing_up(mode: str) -> None:
    """Indices with an empty ``offsets``: no bag, an output (0, D) as torch's, and a
    backward that adds nothing (torch 2.13's own backward crashes the process here)."""
    bag = nn.EmbeddingBag(5, 3, mode=mode)
    assert bag(np.array([1, 2]), np.zeros(0, dtype=np.int64)).shape == (0, 3)
    bag.backward(np.zeros((0, 3), dtype=np.float32))
    np.testing.assert_array_equal(bag.weight.grad, 0.0)


def test_a_bag_layer_names_the_index_out_of_range() -> None:
    bag = nn.EmbeddingBag(5, 3)
    for indices, bad in (([0, 9], 9), ([-2, 1], -2)):
        with pytest.raises(IndexError, match=f"index {bad} is out of range"):
            bag(np.array(indices), np.array([0]))
