"""refnet.interop.torch: modules cross to torch and back with their weights."""

from __future__ import annotations

import numpy as np
import pytest

import refnet.nn as nn

torch = pytest.importorskip("torch", reason="torch is not installed")
from refnet.interop.torch import from_torch, to_torch  # noqa: E402


def model() -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(4, 8, generator=0), nn.GELU("tanh"), nn.Linear(8, 3, bias=False, generator=1),
        nn.LogSoftmax(dim=1),
    )  # fmt: skip


def test_to_torch_builds_the_same_architecture_with_the_same_weights() -> None:
    ours = model()
    theirs = to_torch(ours)
    assert isinstance(theirs, torch.nn.Sequential)
    assert [type(m).__name__ for m in theirs] == ["Linear", "GELU", "Linear", "LogSoftmax"]
    assert theirs[1].approximate == "tanh" and theirs[2].bias is None and theirs[3].dim == 1
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(theirs.state_dict()[key].numpy(), value)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-5)


def test_dtype_and_mode_cross_over() -> None:
    ours = model().double().eval()
    theirs = to_torch(ours)
    assert theirs[0].weight.dtype == torch.float64 and not theirs.training


def test_round_trip_through_torch_preserves_everything() -> None:
    ours = model()
    back = from_torch(to_torch(ours))
    assert repr(back) == repr(ours)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_from_torch_takes_torch_weights() -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(inplace=True))
    ours = from_torch(theirs)
    assert isinstance(ours, nn.Sequential) and isinstance(ours[1], nn.ReLU)
    np.testing.assert_array_equal(ours[0].weight.data, theirs[0].weight.detach().numpy())


def test_a_module_without_counterpart_is_a_clear_error() -> None:
    class Custom(nn.Module):
        pass

    with pytest.raises(TypeError, match=r"torch\.nn\.Custom"):
        to_torch(Custom())
