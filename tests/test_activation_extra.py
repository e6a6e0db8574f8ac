"""The activations of refnet.nn.activation_extra: torch's repr, refusals and values."""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn

MODULES = [
    nn.CELU(),
    nn.CELU(0.5),
    nn.Threshold(0.1, 20.0),
    nn.Hardshrink(),
    nn.Softshrink(0.25),
    nn.Tanhshrink(),
    nn.Softmin(1),
    nn.GLU(),
    nn.GLU(0),
]


@pytest.mark.parametrize("module", MODULES, ids=repr)
def test_repr_is_torchs(module: nn.Module) -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    assert repr(module) == repr(to_torch(module))


def test_invalid_settings_are_refused_with_the_module_named() -> None:
    with pytest.raises(ValueError, match="CELU: alpha cannot be 0"):
        nn.CELU(0.0)
    with pytest.raises(ValueError, match="Softshrink: lambd must be at least 0"):
        nn.Softshrink(-0.1)
    with pytest.raises(ValueError, match=r"GLU\(dim=1\): expected input of shape with an even"):
        nn.GLU(1)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"GLU\(dim=2\): expected input of shape with a dim"):
        nn.GLU(2)(np.zeros((2, 4)))


def test_values_at_a_glance() -> None:
    x = np.array([-1.0, -0.25, 0.0, 0.25, 1.0])
    np.testing.assert_array_equal(nn.Hardshrink(0.5)(x), [-1.0, 0, 0, 0, 1.0])
    np.testing.assert_array_equal(nn.Softshrink(0.5)(x), [-0.5, 0, 0, 0, 0.5])
    np.testing.assert_array_equal(nn.Threshold(0.0, 7.0)(x), [7.0, 7.0, 7.0, 0.25, 1.0])
    y = nn.GLU()(np.array([[2.0, -3.0, 0.0, 0.0]]))
    np.testing.assert_array_equal(y, [[1.0, -1.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_value_keeps_the_dtype(dtype: type[np.floating]) -> None:
    assert nn.Threshold(0.0, 0.1)(np.array([-1.0, 1.0], dtype=dtype)).dtype == dtype


@pytest.mark.parametrize(
    ("name", "args", "kinks"),
    [
        ("Threshold", (0.5, -2.0), [0.5]),
        ("Hardshrink", (0.5,), [-0.5, 0.5]),
        ("Softshrink", (0.5,), [-0.5, 0.5]),
        ("RReLU", (), [0.0]),  # eval mode: the mean slope
        ("CELU", (1.5,), [0.0]),
    ],
)
def test_exactly_at_the_kink_as_torch(
    name: str, args: tuple[float, ...], kinks: list[float]
) -> None:
    """Outputs and gradients at the kink itself, where torch's strict comparison picks the
    branch (the mutation run: every ``>`` here could be ``>=`` unnoticed, since the
    strategies keep away from kinks for the numerical gradients)."""
    torch = pytest.importorskip("torch")
    x = np.array([*kinks, 1.0, -1.0])
    ours = getattr(nn, name)(*args).eval()
    theirs = getattr(torch.nn, name)(*args).eval()
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = theirs(tx)
    ty.backward(torch.ones_like(ty))
    at_kinks = slice(len(kinks))  # bit for bit there; ±1 only to the last ulp or so (libm)
    y, grad = ours(x), ours.backward(np.ones_like(x))
    for got, want in ((y, ty.detach().numpy()), (grad, tx.grad.numpy())):
        np.testing.assert_array_equal(got[at_kinks], want[at_kinks])
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
