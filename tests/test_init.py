"""refnet.nn.init: torch's formulas, reproducible draws, in-place fills."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn import Parameter, init

GAINS = [
    ("linear", None, 1.0),
    ("conv2d", None, 1.0),
    ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / (1 + 0.2**2))),
    ("selu", None, 0.75),
]


@pytest.mark.parametrize(("name", "param", "expected"), GAINS)
def test_calculate_gain(name: str, param: float | None, expected: float) -> None:
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(("name", "param", "expected"), GAINS)
def test_calculate_gain_matches_torch(name: str, param: float | None, expected: float) -> None:
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param)
    )


def test_unknown_nonlinearity_is_an_error() -> None:
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swishy")


def test_fills_in_place_and_returns_the_argument() -> None:
    p = Parameter(np.zeros((3, 4), dtype=np.float32))
    data = p.data
    assert init.uniform_(p, -1, 1, generator=0) is p
    assert p.data is data and p.data.dtype == np.float32 and p.data.any()
    array = np.zeros(5)
    assert init.ones_(array) is array and (array == 1).all()


def test_same_generator_seed_same_values() -> None:
    a = init.normal_(np.empty((4, 4)), generator=7)
    b = init.normal_(np.empty((4, 4)), generator=7)
    np.testing.assert_array_equal(a, b)


def _std(values: np.ndarray) -> float:
    return float(values.std())


def test_kaiming_uniform_with_sqrt5_is_torch_linear_default_bound() -> None:
    w = init.kaiming_uniform_(np.empty((200, 400)), a=math.sqrt(5), generator=0)
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound


def test_scales_of_the_random_initialisers() -> None:
    shape = (300, 200, 3, 3)  # fan_in = 1800, fan_out = 2700
    fan_in, fan_out = 200 * 9, 300 * 9
    cases = [
        (init.xavier_uniform_, {}, math.sqrt(2 / (fan_in + fan_out))),
        (init.xavier_normal_, {"gain": 2.0}, 2 * math.sqrt(2 / (fan_in + fan_out))),
        (init.kaiming_normal_, {"nonlinearity": "relu"}, math.sqrt(2 / fan_in)),
        (
            init.kaiming_uniform_,
            {"mode": "fan_out", "nonlinearity": "relu"},
            math.sqrt(2 / fan_out),
        ),
        (init.normal_, {"std": 0.3}, 0.3),
    ]
    for fn, kwargs, expected in cases:
        values = fn(np.empty(shape), generator=1, **kwargs)
        assert _std(values) == pytest.approx(expected, rel=0.01), fn.__name__


def test_trunc_normal_respects_its_bounds() -> None:
    values = init.trunc_normal_(np.empty(100_000), mean=1.0, std=2.0, a=0.0, b=1.5, generator=0)
    assert values.min() >= 0.0 and values.max() <= 1.5
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(np.empty(3), a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape: tuple[int, ...]) -> None:
    w = init.orthogonal_(np.empty(shape), gain=2.0, generator=0).reshape(shape[0], -1)
    small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(small, 4 * np.eye(small.shape[0]), atol=1e-12)


def test_fan_needs_two_dimensions() -> None:
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(np.empty(3))


def test_constant_zeros_eye() -> None:
    assert (init.constant_(np.empty(3), 0.5) == 0.5).all()
    assert not init.zeros_(np.ones(3)).any()
    np.testing.assert_array_equal(init.eye_(np.empty((2, 3))), np.eye(2, 3))


def test_linear_bias_uses_the_fan_in_bound() -> None:
    layer = nn.Linear(400, 300, generator=0)
    assert layer.bias is not None
    assert np.abs(layer.bias.data).max() <= 1 / math.sqrt(400)


INIT_FUNCTIONS = [n for n in dir(init) if n.endswith("_") and not n.startswith("_")]


@pytest.mark.parametrize("name", INIT_FUNCTIONS)
def test_defaults_are_torchs(name: str) -> None:
    """Every fill's keyword defaults equal ``torch.nn.init``'s (the mutation run: a
    changed default bound, mean, std, gain or slope survived, since the tests pass
    explicit values); refnet's own ``generator`` is left out."""
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.nn.init, name)).parameters
    ours = inspect.signature(getattr(init, name)).parameters
    shared = [p for p in ours if p != "generator"]
    assert shared == [p for p in theirs if p != "generator"]
    for p in shared:
        assert ours[p].default == theirs[p].default, (name, p)


def test_a_bool_slope_is_refused_as_torch() -> None:
    """``True`` is an int to Python but not a slope to torch (the mutation run: the bool
    exclusion loosened to ``or`` survived)."""
    with pytest.raises(ValueError, match="negative_slope True"):
        init.calculate_gain("leaky_relu", True)
    assert init.calculate_gain("leaky_relu", 1) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_the_empty_tensor_warning_points_at_the_caller(name: str) -> None:
    """As torch's, the warning for a zero-element tensor names the line that called the
    fill, not refnet's own (the mutation run: a changed stacklevel survived)."""
    with pytest.warns(UserWarning, match="zero-element") as record:
        getattr(init, name)(np.zeros((0, 3)))
    assert record[0].filename == __file__


def test_orthogonal_fills_a_one_element_matrix() -> None:
    """A (1, 1) matrix is orthogonal when it is ±1 (times the gain); only a matrix with no
    elements is left as it is (the mutation run: ``size == 1`` for ``== 0`` survived)."""
    q = init.orthogonal_(np.zeros((1, 1)), gain=2.0, generator=0)
    assert abs(q[0, 0]) == 2.0
