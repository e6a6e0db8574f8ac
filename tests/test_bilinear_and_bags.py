"""Bilinear and EmbeddingBag beyond the registry: the functional forms against
torch.nn.functional and autograd, the options the cases leave at their defaults
(scale_grad_by_freq, max_norm, ties under max), repr, and the refusals."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F


def _torch() -> Any:
    return pytest.importorskip("torch")


@given(seed=st.integers(0, 2**16), bias=st.booleans())
def test_f_bilinear_and_its_backward_match_torch(seed: int, bias: bool) -> None:
    torch = _torch()
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 2))
    w, b = rng.normal(size=(5, 4, 2)), rng.normal(size=5) if bias else None
    y = F.bilinear(x1, x2, w, b)
    G = rng.normal(size=y.shape)
    tensors = [torch.from_numpy(a.copy()).requires_grad_() for a in (x1, x2, w)]
    tb = torch.from_numpy(b.copy()).requires_grad_() if b is not None else None
    ty = torch.nn.functional.bilinear(*tensors, tb)
    ty.backward(torch.from_numpy(G))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12)
    grads = F.bilinear_backward(G, x1, x2, w, b)
    for g, t in zip(grads[:3], tensors, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-11, atol=1e-13)
    if tb is None:
        assert grads[3] is None
    else:
        np.testing.assert_allclose(grads[3], tb.grad.numpy(), rtol=1e-12)


def _bag_call(rng: np.random.Generator, options: dict[str, Any]) -> dict[str, Any]:
    sizes = rng.integers(0, 5, 4)
    indices = rng.integers(0, 6, int(sizes.sum()))
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if options.get("include_last_offset"):
        offsets = np.append(offsets, indices.size)
    return {"input": indices, "offsets": offsets, **options}


OPTIONS = [
    {"mode": "sum"},
    {"mode": "mean"},
    {"mode": "max"},
    {"mode": "mean", "padding_idx": 2},
    {"mode": "sum", "per_sample_weights": True, "padding_idx": 0},
    {"mode": "mean", "include_last_offset": True},
    {"mode": "max", "padding_idx": 1, "include_last_offset": True},
    {"mode": "sum", "max_norm": 1.0},
]


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
@given(seed=st.integers(0, 2**16))
def test_f_embedding_bag_and_its_backward_match_torch(options: dict[str, Any], seed: int) -> None:
    torch = _torch()
    rng = np.random.default_rng(seed)
    options = dict(options)  # the parametrised dict is shared between examples
    weighted = options.pop("per_sample_weights", False)
    call = _bag_call(rng, options)
    indices, offsets = call.pop("input"), call.pop("offsets")
    weight = rng.normal(size=(6, 3))
    psw = rng.normal(size=indices.shape) if weighted else None
    ours_weight = weight.copy()
    y = F.embedding_bag(indices, ours_weight, offsets, per_sample_weights=psw, **call)
    G = rng.normal(size=y.shape)
    tw = torch.from_numpy(weight.copy()).requires_grad_()
    tp = torch.from_numpy(psw.copy()).requires_grad_() if psw is not None else None
    ty = torch.nn.functional.embedding_bag(
        torch.from_numpy(indices), tw, torch.from_numpy(offsets), per_sample_weights=tp, **call
    )
    ty.backward(torch.from_numpy(G))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    if "max_norm" in call:  # both renormalised the looked-up rows in place
        np.testing.assert_allclose(ours_weight, tw.detach().numpy(), rtol=1e-12)
    g_weight, g_psw = F.embedding_bag_backward(
        G, indices, weight.copy(), offsets, per_sample_weights=psw, **call
    )
    np.testing.assert_allclose(g_weight, tw.grad.numpy(), rtol=1e-11, atol=1e-13)
    if tp is None:
        assert g_psw is None
    else:
        np.testing.assert_allclose(g_psw, tp.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_divides_each_row_by_its_count(mode: str) -> None:
    """As nn.Embedding and torch's documentation: row r's gradient over its frequency in
    the batch. torch's CPU embedding_bag does not (here it divides row 2, seen once, by
    3): a deliberate deviation, pinned so that a change on either side is noticed."""
    torch = _torch()
    indices, offsets = np.array([1, 1, 2, 1, 3]), np.array([0, 2])
    weight = np.ones((4, 1))
    plain, _ = F.embedding_bag_backward(np.ones((2, 1)), indices, weight, offsets, mode=mode)
    scaled, _ = F.embedding_bag_backward(
        np.ones((2, 1)), indices, weight, offsets, mode=mode, scale_grad_by_freq=True
    )
    counts = np.bincount(indices, minlength=4)[:, None]
    np.testing.assert_allclose(scaled, plain / np.maximum(counts, 1))
    tw = torch.from_numpy(weight.copy()).requires_grad_()
    torch.nn.functional.embedding_bag(
        torch.from_numpy(indices), tw, torch.from_numpy(offsets), mode=mode, scale_grad_by_freq=True
    ).sum().backward()
    assert not np.allclose(tw.grad.numpy(), scaled)  # torch's kernel scales otherwise


def test_max_takes_the_first_of_tied_entries_as_torch() -> None:
    torch = _torch()
    weight = np.array([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]])
    indices, offsets = np.array([0, 1, 2, 1, 0]), np.array([0, 3])
    bag = nn.EmbeddingBag(3, 2, mode="max", _weight=weight, dtype=np.float64)
    y = bag(indices, offsets)
    bag.backward(np.ones_like(y))
    tw = torch.from_numpy(weight.copy()).requires_grad_()
    ty = torch.nn.functional.embedding_bag(
        torch.from_numpy(indices), tw, torch.from_numpy(offsets), mode="max"
    )
    ty.sum().backward()
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(bag.weight.grad, tw.grad.numpy())


@pytest.mark.parametrize(
    "module",
    [
        (nn.EmbeddingBag, (5, 3), {}),
        (nn.EmbeddingBag, (5, 3), {"mode": "max", "padding_idx": 1, "max_norm": 2.0}),
        (nn.EmbeddingBag, (5, 3), {"norm_type": 1.0, "scale_grad_by_freq": True}),
        (nn.Bilinear, (2, 3, 4), {"bias": False}),
    ],
)
def test_repr_is_torchs(module: tuple[Any, tuple[int, ...], dict[str, Any]]) -> None:
    torch = _torch()
    cls, args, kwargs = module
    assert repr(cls(*args, **kwargs)) == repr(getattr(torch.nn, cls.__name__)(*args, **kwargs))


def test_embedding_bag_refusals() -> None:
    bag = nn.EmbeddingBag(4, 2, mode="mean")
    with pytest.raises(ValueError, match="only supported for mode='sum'"):
        bag(np.array([0, 1]), np.array([0]), np.ones(2, dtype=np.float32))
    with pytest.raises(ValueError, match="needs offsets"):
        bag(np.array([0, 1]))
    with pytest.raises(ValueError, match="offsets must be None"):
        bag(np.array([[0, 1]]), np.array([0]))
    with pytest.raises(ValueError, match=r"offsets\[0\]"):
        bag(np.array([0, 1]), np.array([1]))
    with pytest.raises(ValueError, match="non-decreasing"):
        bag(np.array([0, 1, 2]), np.array([0, 2, 1]))
    with pytest.raises(IndexError, match="out of range"):
        bag(np.array([0, 4]), np.array([0]))
    with pytest.raises(TypeError, match="integer"):
        bag(np.array([0.0, 1.0]), np.array([0]))
    with pytest.raises(ValueError, match="mode"):
        nn.EmbeddingBag(4, 2, mode="median")
    with pytest.raises(NotImplementedError):
        nn.EmbeddingBag(4, 2, sparse=True)


def test_bilinear_refuses_mismatched_inputs() -> None:
    layer = nn.Bilinear(3, 2, 4)
    with pytest.raises(ValueError, match=r"expected input2 of shape \(6, 5, 2\)"):
        layer(np.zeros((6, 5, 3), np.float32), np.zeros((6, 4, 2), np.float32))
    with pytest.raises(ValueError, match="input1"):
        layer(np.zeros((5, 2), np.float32), np.zeros((5, 2), np.float32))


@pytest.mark.parametrize("sizes", [(1, 2, 3), (3, 0, 2), (3, 2, 0), (0, 2, 3), (-1, 2, 3)])
def test_bilinear_sizes_are_taken_or_refused_as_torch(sizes: tuple[int, int, int]) -> None:
    """A zero in2_features or out_features is taken (the mutation run: ``< 0`` as ``<= 0``
    survived, and the forward then failed on a ``reshape(-1, ...)`` of nothing); a zero
    in1_features is refused, since the bound 1/√in1 is undefined."""
    torch = _torch()
    try:
        theirs = torch.nn.Bilinear(*sizes)
    except (ValueError, RuntimeError):
        with pytest.raises(ValueError, match="in1_features"):
            nn.Bilinear(*sizes)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zero-element inits: a no-op
        ours = nn.Bilinear(*sizes, generator=0).double()
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert ours.bias is not None
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(4, sizes[0])), rng.normal(size=(4, sizes[1]))
    w, b = ours.weight.data, ours.bias.data
    y = ours(x1, x2)  # torch's own forward fails on in2 = 0 (a reshape(-1, 0)): the sum
    np.testing.assert_allclose(y, np.einsum("mi,oij,mj->mo", x1, w, x2) + b, rtol=1e-12)
    g = rng.normal(size=y.shape)
    g1, g2 = ours.backward(g)
    np.testing.assert_allclose(g1, np.einsum("mo,oij,mj->mi", g, w, x2), atol=1e-12)
    np.testing.assert_allclose(g2, np.einsum("mo,oij,mi->mj", g, w, x1), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, np.einsum("mo,mi,mj->oij", g, x1, x2))


def test_embedding_bag_construction_as_torch() -> None:
    torch = _torch()
    bag = nn.EmbeddingBag(5, 3, padding_idx=-4)
    assert bag.padding_idx == 1 and np.all(bag.weight.data[1] == 0)  # torch zeroes it too
    assert torch.nn.EmbeddingBag(5, 3, padding_idx=-4).padding_idx == 1
    for args in [(-1, 3), (5, -1)]:  # an empty table (0, 3) is taken, as torch takes it
        with pytest.raises(ValueError, match="EmbeddingBag"):
            nn.EmbeddingBag(*args)
    with pytest.raises(TypeError, match="offsets"):
        bag(np.array([0, 1]), np.array([0.0]))


def test_include_last_offset_with_one_offset_gives_no_bag_as_torch() -> None:
    torch = _torch()
    bag = nn.EmbeddingBag(4, 2, include_last_offset=True)
    y = bag(np.zeros(0, dtype=np.int64), np.array([0]))
    w = torch.from_numpy(bag.weight.data.copy())
    theirs = torch.nn.functional.embedding_bag(
        torch.zeros(0, dtype=torch.long), w, torch.tensor([0]), include_last_offset=True
    )
    assert y.shape == tuple(theirs.shape) == (0, 2)


def test_include_last_offset_must_be_the_input_length() -> None:
    """torch documents it so; given a smaller one, its sum leaves the entries after it
    out, its mean still counts them and its max takes them: refnet refuses instead."""
    bag = nn.EmbeddingBag(5, 3, mode="sum", include_last_offset=True)
    with pytest.raises(ValueError, match="last offset"):
        bag(np.array([1, 2, 3, 4, 0]), np.array([0, 1, 3]))
