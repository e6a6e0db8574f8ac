"""F.conv3d / F.conv_transpose3d and F.conv_transpose1d with their backward siblings
against torch.nn.functional and torch's autograd (float64), over drawn kernels, strides,
paddings, dilations, output paddings and groups. The layers' generic properties come
from tests/cases/conv.py."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _close(ours: Any, theirs: Any) -> None:
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def geometries(draw: st.DrawFn) -> dict[str, Any]:
    groups = draw(st.sampled_from([1, 2]))
    return {
        "groups": groups,
        "c_in": groups * draw(st.integers(1, 2)),
        "c_out": groups * draw(st.integers(1, 2)),
        "kernel": tuple(draw(st.integers(1, 3)) for _ in range(3)),
        "stride": tuple(draw(st.integers(1, 2)) for _ in range(3)),
        "dilation": tuple(draw(st.integers(1, 2)) for _ in range(3)),
        "padding": tuple(draw(st.integers(0, 2)) for _ in range(3)),
        "seed": draw(st.integers(0, 2**16)),
        "batched": draw(st.booleans()),
    }


@given(g=geometries())
def test_conv3d_and_its_backward_match_torch(g: dict[str, Any]) -> None:
    rng = np.random.default_rng(g["seed"])
    k, d, p, s = g["kernel"], g["dilation"], g["padding"], g["stride"]
    sizes = [
        max(1, dd * (kk - 1) + 1 - 2 * pp) + int(rng.integers(0, 2))
        for kk, dd, pp in zip(k, d, p, strict=True)
    ]
    lead = (2,) if g["batched"] else ()
    x = rng.normal(size=(*lead, g["c_in"], *sizes))
    w = rng.normal(size=(g["c_out"], g["c_in"] // g["groups"], *k))
    b = rng.normal(size=g["c_out"])
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = TF.conv3d(*t, s, p, d, g["groups"])
    grad = rng.normal(size=ty.shape)
    ty.backward(torch.from_numpy(grad))
    _close(F.conv3d(x, w, b, s, p, d, g["groups"]), ty)
    for ours, theirs in zip(F.conv3d_backward(grad, x, w, b, s, p, d, g["groups"]), t, strict=True):
        _close(ours, theirs.grad)


@given(g=geometries(), output_padding=st.tuples(*[st.integers(0, 1)] * 3))
def test_conv_transpose3d_and_its_backward_match_torch(
    g: dict[str, Any], output_padding: Any
) -> None:
    rng = np.random.default_rng(g["seed"])
    k, d, s = g["kernel"], g["dilation"], g["stride"]
    op = tuple(min(o, max(ss, dd) - 1) for o, ss, dd in zip(output_padding, s, d, strict=True))
    sizes = [int(v) for v in rng.integers(1, 4, size=3)]
    p = tuple(
        min(pp, ((n - 1) * ss + dd * (kk - 1)) // 2)
        for pp, n, ss, dd, kk in zip(g["padding"], sizes, s, d, k, strict=True)
    )
    lead = (2,) if g["batched"] else ()
    x = rng.normal(size=(*lead, g["c_in"], *sizes))
    w = rng.normal(size=(g["c_in"], g["c_out"] // g["groups"], *k))
    b = rng.normal(size=g["c_out"])
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = TF.conv_transpose3d(*t, s, p, op, g["groups"], d)
    grad = rng.normal(size=ty.shape)
    ty.backward(torch.from_numpy(grad))
    _close(F.conv_transpose3d(x, w, b, s, p, op, g["groups"], d), ty)
    grads = F.conv_transpose3d_backward(grad, x, w, b, s, p, op, g["groups"], d)
    for ours, theirs in zip(grads, t, strict=True):
        _close(ours, theirs.grad)


@given(g=geometries(), output_padding=st.integers(0, 1))
def test_conv_transpose1d_and_its_backward_match_torch(
    g: dict[str, Any], output_padding: int
) -> None:
    rng = np.random.default_rng(g["seed"])
    k, d, s = g["kernel"][0], g["dilation"][0], g["stride"][0]
    op = min(output_padding, max(s, d) - 1)
    n = int(rng.integers(1, 5))
    p = min(g["padding"][0], ((n - 1) * s + d * (k - 1)) // 2)
    lead = (2,) if g["batched"] else ()
    x = rng.normal(size=(*lead, g["c_in"], n))
    w = rng.normal(size=(g["c_in"], g["c_out"] // g["groups"], k))
    b = rng.normal(size=g["c_out"])
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ty = TF.conv_transpose1d(*t, s, p, op, g["groups"], d)
    grad = rng.normal(size=ty.shape)
    ty.backward(torch.from_numpy(grad))
    _close(F.conv_transpose1d(x, w, b, s, p, op, g["groups"], d), ty)
    grads = F.conv_transpose1d_backward(grad, x, w, b, s, p, op, g["groups"], d)
    for ours, theirs in zip(grads, t, strict=True):
        _close(ours, theirs.grad)


def test_the_3d_layers_keep_torchs_arguments_and_repr() -> None:
    pairs = [
        (
            nn.Conv3d(2, 4, 3, padding="same", bias=False),
            torch.nn.Conv3d(2, 4, 3, padding="same", bias=False),
        ),
        (
            nn.Conv3d(2, 4, (1, 2, 3), stride=2, padding_mode="reflect"),
            torch.nn.Conv3d(2, 4, (1, 2, 3), stride=2, padding_mode="reflect"),
        ),
        (
            nn.ConvTranspose3d(2, 4, 2, stride=2, output_padding=1),
            torch.nn.ConvTranspose3d(2, 4, 2, stride=2, output_padding=1),
        ),
        (nn.ConvTranspose1d(2, 4, 3, dilation=2), torch.nn.ConvTranspose1d(2, 4, 3, dilation=2)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert ours.weight.shape == tuple(theirs.weight.shape)


def test_conv_transpose3d_output_size_picks_the_output_padding() -> None:
    layer = nn.ConvTranspose3d(1, 1, 3, stride=2).double()
    x = np.ones((1, 1, 2, 2, 2))
    assert layer(x, output_size=(6, 5, 6)).shape == (1, 1, 6, 5, 6)
    with pytest.raises(ValueError, match="not between"):
        layer(x, output_size=(7, 5, 5))


def test_conv3d_refuses_bad_input_by_name() -> None:
    layer = nn.Conv3d(2, 3, 3)
    with pytest.raises(ValueError, match=r"Conv3d\(2, 3.*expected input of shape"):
        layer(np.zeros((1, 3, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        layer(np.zeros((1, 2, 2, 4, 4), np.float32))


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize(
    ("mode", "extra"), [("reflect", 0), ("reflect", -1), ("circular", 1), ("circular", 0)]
)
def test_conv3d_padding_too_large_along_one_axis_is_refused_as_by_torch(
    axis: int, mode: str, extra: int
) -> None:
    """Reflect padding must be smaller than the input along each axis, circular padding at
    most the input; one axis past the limit is enough (issue 20, conv.py: the reflect and
    circular checks joined by ``and`` for ``or`` survived)."""
    sizes = [4, 4, 4]
    sizes[axis] = 2
    padding = [0, 0, 0]
    padding[axis] = 2 + extra
    x = np.random.default_rng(0).normal(size=(1, 1, *sizes))
    ours = nn.Conv3d(1, 1, 1, padding=tuple(padding), padding_mode=mode).double()
    theirs = torch.nn.Conv3d(1, 1, 1, padding=tuple(padding), padding_mode=mode).double()
    refused = (extra >= 0) if mode == "reflect" else (extra > 0)
    if refused:
        with pytest.raises(RuntimeError):
            theirs(torch.from_numpy(x))
        with pytest.raises(ValueError, match=f"{mode} padding"):
            ours(x)
        return
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))  # type: ignore[union-attr]
    _close(ours(x), theirs(torch.from_numpy(x)))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("kernel", [(1, 2, 3), (3, 3, 2)])
def test_functional_conv3d_with_a_padding_word_as_torch(
    padding: str, kernel: tuple[int, int, int]
) -> None:
    """'valid' pads nothing; 'same' pads d(k - 1) per axis, the odd one at the far end."""
    rng = np.random.default_rng(sum(kernel))
    x, w, b = rng.normal(size=(2, 2, 4, 5, 6)), rng.normal(size=(3, 2, *kernel)), rng.normal(size=3)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv3d(tx, tw, tb, padding=padding)
    G = rng.normal(size=ty.shape)
    ty.backward(torch.from_numpy(G))
    np.testing.assert_allclose(F.conv3d(x, w, b, padding=padding), ty.detach(), rtol=1e-12)
    grads = F.conv3d_backward(G, x, w, b, padding=padding)
    for ours, tensor in zip(grads, (tx, tw, tb), strict=True):
        assert tensor.grad is not None
        np.testing.assert_allclose(ours, tensor.grad, rtol=1e-12, atol=1e-13)
