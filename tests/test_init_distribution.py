"""Initialisation as a distribution, against torch's: every parameter of a default-built
layer, compared by its quantiles (both tails, the quartiles, the median).

``test_defaults`` compares shapes and plain attributes; the init tests check formulas on
one layer each. Here each parameter of each module is drawn by both libraries at a size
where the distribution shows (about 10⁴ or more values), and their quantiles 0.1%, 1%, 25%,
50%, 75%, 99%, 99.9% must agree within a tolerance set by the sample size (the standard
error of a quantile is about range·0.5/√n; the test allows 6 of those, plus 2% of the
range for the extremes of small samples). A constant parameter (a norm's weight, a zero
bias) must be equal exactly. A wrong fan, gain or distribution moves these by far more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn

torch = pytest.importorskip("torch")

Build = Callable[[Any, dict[str, Any]], Any]
CASES: dict[str, Build] = {
    "Linear": lambda lib, kw: lib.Linear(400, 300, **kw),
    "Linear without bias": lambda lib, kw: lib.Linear(256, 512, bias=False, **kw),
    "Linear in_features=1": lambda lib, kw: lib.Linear(1, 1000, **kw),  # bias bound 1
    "Bilinear": lambda lib, kw: lib.Bilinear(16, 8, 32, **kw),
    "Conv1d": lambda lib, kw: lib.Conv1d(16, 64, 5, **kw),
    "Conv2d": lambda lib, kw: lib.Conv2d(16, 64, 3, **kw),
    "Conv2d groups": lambda lib, kw: lib.Conv2d(32, 64, 3, groups=4, **kw),
    "ConvTranspose2d": lambda lib, kw: lib.ConvTranspose2d(32, 16, 3, **kw),
    "Embedding": lambda lib, kw: lib.Embedding(500, 64, **kw),
    "RNN": lambda lib, kw: lib.RNN(64, 128, **kw),
    "LSTM": lambda lib, kw: lib.LSTM(64, 128, proj_size=32, **kw),
    "GRU": lambda lib, kw: lib.GRU(64, 128, bidirectional=True, **kw),
    "LSTMCell": lambda lib, kw: lib.LSTMCell(64, 128, **kw),
    "MultiheadAttention": lambda lib, kw: lib.MultiheadAttention(128, 4, **kw),
    "MultiheadAttention kdim": lambda lib, kw: lib.MultiheadAttention(
        128, 4, kdim=64, vdim=32, **kw
    ),
    "TransformerEncoderLayer": lambda lib, kw: lib.TransformerEncoderLayer(128, 4, 256, **kw),
    "LayerNorm": lambda lib, kw: lib.LayerNorm(64, **kw),
    "BatchNorm2d": lambda lib, kw: lib.BatchNorm2d(16, **kw),
    "GroupNorm": lambda lib, kw: lib.GroupNorm(4, 16, **kw),
    "PReLU": lambda lib, kw: lib.PReLU(8),  # a constant: no generator
}
DRAWS = 24
QUANTILES = np.array([0.001, 0.01, 0.25, 0.5, 0.75, 0.99, 0.999])


def parameters(module: Any) -> dict[str, np.ndarray[Any, Any]]:
    return {
        name: np.asarray(p.detach().numpy() if hasattr(p, "detach") else p.data, np.float64)
        for name, p in module.named_parameters()
    }


def draws(build: Build) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both libraries' parameters from DRAWS modules each, so small ones have enough values."""
    torch.manual_seed(0)
    ours: dict[str, list[Any]] = {}
    theirs: dict[str, list[Any]] = {}
    for seed in range(DRAWS):
        for name, value in parameters(build(nn, {"generator": seed})).items():
            ours.setdefault(name, []).append(value.ravel())
        for name, value in parameters(build(torch.nn, {})).items():
            theirs.setdefault(name, []).append(value.ravel())
    return (
        {k: np.concatenate(v) for k, v in ours.items()},
        {k: np.concatenate(v) for k, v in theirs.items()},
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_initial_parameters_are_distributed_as_torchs(name: str) -> None:
    ours, theirs = draws(CASES[name])
    assert sorted(ours) == sorted(theirs)
    for key, mine in ours.items():
        their = theirs[key]
        if np.ptp(their) == 0:
            np.testing.assert_array_equal(mine, their, err_msg=key)
            continue
        assert_same_distribution(mine, their, key)


def assert_same_distribution(
    mine: np.ndarray[Any, Any], their: np.ndarray[Any, Any], key: str
) -> None:
    """The quantiles of the module docstring agree within the sample's tolerance."""
    spread = float(np.ptp(their))
    allowed = 6 * spread * 0.5 / math.sqrt(mine.size) + 0.02 * spread
    gaps = np.abs(np.quantile(mine, QUANTILES) - np.quantile(their, QUANTILES))
    assert np.all(gaps <= allowed), (key, gaps.round(5).tolist(), allowed)


FILLS = {
    "uniform_": {},
    "normal_": {},
    "trunc_normal_": {},
    "xavier_uniform_": {},
    "xavier_normal_": {},
    "kaiming_uniform_": {},
    "kaiming_normal_": {},
    "kaiming_normal_ fan_out relu": {"mode": "fan_out", "nonlinearity": "relu"},
    "orthogonal_": {},
}


@pytest.mark.parametrize("case", sorted(FILLS))
def test_each_fill_is_distributed_as_torchs(case: str) -> None:
    """Each ``nn.init`` fill with its defaults, on a (256, 400) tensor, against torch's (the
    mutation run: a mean of 1 instead of 0 in the Glorot and He normal fills survived the
    layer-level cases, whose layers use the uniform ones)."""
    name = case.split()[0]
    torch.manual_seed(0)
    mine = np.zeros((256, 400))
    getattr(nn.init, name)(mine, generator=0, **FILLS[case])
    their = torch.empty(256, 400, dtype=torch.float64)
    getattr(torch.nn.init, name)(their, **FILLS[case])
    assert_same_distribution(mine.ravel(), their.numpy().ravel(), case)


def test_orthogonal_rows_point_in_no_preferred_direction() -> None:
    """A Haar-distributed orthogonal matrix's unit rows have sums of about N(0, 1); QR of a
    Gaussian with a nonzero mean would align a row with the all-ones vector (sum ≈ √400):
    the mutation run's one survivor there, invisible in the entries' quantiles."""
    q = nn.init.orthogonal_(np.zeros((256, 400)), generator=0)
    np.testing.assert_allclose(q @ q.T, np.eye(256), atol=1e-12)
    assert np.abs(q.sum(axis=1)).max() < 6
