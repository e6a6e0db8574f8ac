"""RMSNorm specifics: eps=None is the dtype's epsilon (as torch's), known values, errors,
and LayerNorm(bias=False) agreeing with torch (its property cases draw bias too)."""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.gradcheck import check_module


def test_known_values() -> None:
    x = np.array([[3.0, 4.0]])
    y = nn.RMSNorm(2, eps=0.0).double()(x)
    np.testing.assert_allclose(y, x / np.sqrt(12.5))


def test_eps_none_is_the_dtypes_epsilon() -> None:
    torch = pytest.importorskip("torch")
    x = np.full((2, 3), 1e-5, dtype=np.float32)
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        ours = nn.RMSNorm(3).to(dtype)(x.astype(dtype))
        theirs = torch.nn.RMSNorm(3, dtype=tdtype)(torch.tensor(x.astype(dtype)))
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-6)
        assert ours.dtype == dtype


def test_gradients_without_affine_and_repr() -> None:
    rng = np.random.default_rng(0)
    module = nn.RMSNorm((2, 3), eps=1e-3, elementwise_affine=False).double()
    check_module(module, rng.normal(size=(4, 2, 3)))
    assert repr(module) == "RMSNorm((2, 3), eps=0.001, elementwise_affine=False)"
    assert list(dict(nn.RMSNorm(4).named_parameters())) == ["weight"]


def test_wrong_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"RMSNorm.*\(\*, 4\).*\(2, 3\)"):
        nn.RMSNorm(4)(np.zeros((2, 3), dtype=np.float32))


def test_functional_matches_layer_norm_structure() -> None:
    rng = np.random.default_rng(1)
    x, g, w = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.normal(size=4)
    y, xhat, invrms = F.rms_norm(x, w, 1e-6)
    np.testing.assert_allclose((xhat**2).mean(axis=1), 1.0, rtol=1e-5)
    dx, dw = F.rms_norm_backward(g, xhat, invrms, w)
    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        num[i] = ((F.rms_norm(xp, w, 1e-6)[0] - F.rms_norm(xm, w, 1e-6)[0]) * g).sum() / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dw, (g * xhat).sum(axis=0))
    assert y.shape == x.shape


def test_layer_norm_without_bias_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    module = nn.LayerNorm(4, bias=False).double()
    module.weight.data[...] = rng.normal(size=4)
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    theirs = torch.nn.LayerNorm(4, bias=False, dtype=torch.float64)
    theirs.load_state_dict({"weight": torch.tensor(module.weight.data)})
    tx = torch.tensor(x, requires_grad=True)
    out = theirs(tx)
    out.backward(torch.tensor(g))
    np.testing.assert_allclose(module(x), out.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(module.backward(g), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert module.bias is None and list(module.state_dict()) == ["weight"]
