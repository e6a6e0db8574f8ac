"""Residual: state-dict keys, the two gradient paths, shape errors, torch round trip."""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn


def block(width: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, width, generator=0), nn.ReLU())


def test_state_dict_keys_name_the_block() -> None:
    model = nn.Sequential(nn.Residual(block()), nn.Residual(nn.BatchNorm1d(3)))
    assert list(model.state_dict()) == [
        "0.block.0.weight",
        "0.block.0.bias",
        "1.block.weight",
        "1.block.bias",
        "1.block.running_mean",
        "1.block.running_var",
        "1.block.num_batches_tracked",
    ]


def test_the_gradient_is_the_identity_path_plus_the_block_path() -> None:
    rng = np.random.default_rng(0)
    inner = block().double()
    residual = nn.Residual(inner)
    x = rng.standard_normal((4, 3))
    y = residual(x)
    np.testing.assert_allclose(y, x + inner(x), rtol=1e-15)
    g = rng.standard_normal(y.shape)
    inner(x)
    through_block = inner.backward(g)
    residual(x)
    np.testing.assert_allclose(residual.backward(g), g + through_block, rtol=1e-15)


def test_a_block_that_changes_the_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"Residual: .*input \(4, 3\), block output \(4, 2\)"):
        nn.Residual(nn.Linear(3, 2))(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="must be a Module"):
        nn.Residual(lambda x: x)  # type: ignore[arg-type]


def test_backward_checks_the_gradient_shape() -> None:
    residual = nn.Residual(block())
    residual(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"Residual\(\): backward\(\) expects .*\(2, 3\)"):
        residual.backward(np.ones((3, 2), dtype=np.float32))


def test_round_trip_through_torch() -> None:
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import Residual as TorchResidual
    from refnet.interop.torch import from_torch, to_torch

    ours = nn.Residual(nn.Sequential(nn.Linear(3, 3, generator=1), nn.Tanh(), nn.LayerNorm(3)))
    theirs = to_torch(ours)
    assert isinstance(theirs, TorchResidual)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)
    back = from_torch(theirs)
    assert repr(back) == repr(ours)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)
