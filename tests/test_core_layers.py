"""Specific behaviour of Linear, Flatten and the activations: errors, stability, known values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import refnet.nn as nn
from refnet.nn import functional as F
from refnet.nn.functional.activation import GELU_PIECE

ACTIVATIONS = [
    nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.1), nn.ELU(), nn.SELU(), nn.GELU(), nn.GELU("tanh"),
    nn.SiLU(), nn.Mish(), nn.Sigmoid(), nn.LogSigmoid(), nn.Tanh(), nn.Softplus(),
    nn.Softplus(beta=0.5, threshold=5), nn.Softsign(), nn.Hardtanh(), nn.Hardsigmoid(),
    nn.Hardswish(), nn.PReLU(), nn.Softmax(dim=0), nn.LogSoftmax(dim=0),
]  # fmt: skip


@pytest.mark.parametrize("module", ACTIVATIONS, ids=lambda m: m.describe())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_finite_and_silent_at_extremes(module: nn.Module, dtype: type) -> None:
    module.to(dtype)
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = module(x)
        grad = module.backward(np.ones_like(y))
    assert y.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(grad).all()


def test_known_values() -> None:
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(
        nn.GELU()(x), x * 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x]))
    )
    np.testing.assert_allclose(nn.Softplus()(x), np.log1p(np.exp(x)))
    np.testing.assert_allclose(nn.Sigmoid()(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Softmax(dim=0)(x), np.exp(x) / np.exp(x).sum())
    np.testing.assert_allclose(nn.LogSigmoid()(np.array([-800.0])), [-800.0])


def test_erf_and_erfc_match_the_standard_library_to_double_precision() -> None:
    x = np.concatenate([np.linspace(-6, 6, 2001), [-26.0, -9.0, 9.0, 26.0]])
    np.testing.assert_allclose(F.erf(x), [math.erf(v) for v in x], rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(F.erfc(x), [math.erfc(v) for v in x], rtol=1e-13, atol=1e-300)


def test_the_float32_fast_path_of_the_normal_cdf_is_float32_accurate() -> None:
    """GELU's gate in float32 (a rational erf): within 2.5e-7 of the exact value
    everywhere, and to 1e-6 relative in the left tail, where 1 + erf would cancel."""
    x = np.linspace(-9, 9, 200001)
    exact = 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(F.erf_rational(x), [math.erf(v) for v in x], rtol=0, atol=7e-8)
    fast = F.normal_cdf(x.astype(np.float32))
    assert fast.dtype == np.float32
    exact32 = 0.5 * np.array([math.erfc(-float(v) / math.sqrt(2)) for v in x.astype(np.float32)])
    np.testing.assert_allclose(fast, exact32, rtol=0, atol=2.5e-7)
    tail = x < -3
    np.testing.assert_allclose(fast[tail], exact32[tail], rtol=1e-6)
    np.testing.assert_allclose(F.normal_cdf(x), exact, rtol=1e-12)  # float64: the exact erfc


def test_the_float32_gelu_and_its_derivative_in_pieces() -> None:
    """The fused float32 GELU (pieces of GELU_PIECE elements) against the exact float64
    one, on an array of several pieces given in a non-contiguous layout."""
    x = np.linspace(-9, 9, 5 * (GELU_PIECE + 7)).reshape(-1, 5).T
    x32 = x.astype(np.float32)
    y, d = F.gelu_with_derivative(x32)
    y64, d64 = F.gelu_with_derivative(x32.astype(np.float64))  # the same inputs, exactly
    assert y.dtype == d.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, y64, rtol=2e-6, atol=6e-7)  # x·Φ: |x| < 3 times Φ's 2e-7
    np.testing.assert_allclose(d, d64, rtol=2e-6, atol=2.5e-7)
    tail = x < -3
    np.testing.assert_allclose(y[tail], y64[tail], rtol=1e-6)


def test_softmax_without_dim_warns_and_follows_torch_legacy_rule() -> None:
    x = np.random.default_rng(0).normal(size=(2, 3))
    with pytest.warns(UserWarning, match="implicit dimension"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)


def test_activation_rejects_integer_input() -> None:
    with pytest.raises(TypeError, match=r"ReLU\(\): expected a floating-point input"):
        nn.ReLU()(np.arange(3))


def test_activation_backward_checks_the_gradient_shape() -> None:
    relu = nn.ReLU()
    relu(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        relu.backward(np.ones((3, 2)))


def test_linear_wrong_feature_size_names_module_and_shapes() -> None:
    layer = nn.Linear(784, 10)
    with pytest.raises(ValueError) as error:
        layer(np.zeros((64, 28, 28), dtype=np.float32))
    assert str(error.value) == (
        "Linear(in_features=784, out_features=10, bias=True): expected input of shape (*, 784), "
        "got (64, 28, 28)"
    )


def test_linear_rejects_scalars_non_arrays_and_non_floats() -> None:
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"\(\*, 3\)"):
        layer(np.array(1.0, dtype=np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        layer([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="floating-point"):
        layer(np.ones((2, 3), dtype=np.int64))


def test_linear_rejects_a_dtype_other_than_its_parameters() -> None:
    with pytest.raises(TypeError, match=r"float64 but the parameters are float32"):
        nn.Linear(3, 2)(np.ones((1, 3)))


def test_backward_before_forward_names_the_module() -> None:
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=3.*before forward"):
        nn.Linear(3, 2).backward(np.ones((1, 2), dtype=np.float32))


def test_linear_accepts_any_leading_dimensions() -> None:
    layer = nn.Linear(3, 2, generator=0).double()
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    y = layer(x)
    assert y.shape == (2, 4, 2)
    np.testing.assert_allclose(y[1, 2], layer(x[1, 2][None])[0])
    layer(x)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_linear_without_bias() -> None:
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"


def test_flatten_and_unflatten_are_inverse_reshapes() -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 12)
    back = nn.Unflatten(1, (3, 4))(flat)
    np.testing.assert_array_equal(back, x)
    with pytest.raises(ValueError, match="splits into"):
        nn.Unflatten(1, (5, 5))(flat)
    with pytest.raises(ValueError, match="Flatten"):
        nn.Flatten(start_dim=3)(x)


def test_prelu_checks_channels() -> None:
    with pytest.raises(
        ValueError, match=r"PReLU\(num_parameters=3\): expected input of shape \(N, 3, \*\)"
    ):
        nn.PReLU(3)(np.ones((2, 4), dtype=np.float32))


def test_hardening_regressions_of_issue_17() -> None:
    """A 0-d input to PReLU stays 0-d; an empty spatial input to ConvTranspose2d is an
    error (it gave a 2x2 output of the bias); an integer gradient is refused by name."""
    prelu = nn.PReLU().double()
    y = prelu(np.array(-1.5))
    assert y.shape == () and float(y) == -0.375
    assert prelu.backward(np.array(1.0)).shape == ()
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(.*non-empty spatial input"):
        nn.ConvTranspose2d(2, 3, 2)(np.zeros((1, 2, 0, 3), dtype=np.float32))
    relu = nn.ReLU()
    relu(np.ones(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"ReLU\(\): backward\(\) expects a floating-point"):
        relu.backward(np.ones(3, dtype=np.int64))


def test_flatten_takes_an_empty_batch_and_checks_its_gradient() -> None:
    flatten, unflatten = nn.Flatten(), nn.Unflatten(1, (2, 3))
    assert flatten(np.zeros((0, 2, 3))).shape == (0, 6)
    assert flatten.backward(np.zeros((0, 6))).shape == (0, 2, 3)
    for layer, x in ((flatten, np.zeros((4, 2, 3))), (unflatten, np.zeros((4, 6)))):
        layer(x)
        with pytest.raises(ValueError, match=r"expects a gradient of the output's size \(24"):
            layer.backward(np.zeros((4, 5)))


def test_linear_backward_for_f_ordered_input_equals_the_plain_path() -> None:
    """Issue 20, item 3: the F-ordered route (a Flatten of a conv's (C, H, W, N) output)
    was reached only by the slow real-data test."""
    rng = np.random.default_rng(0)
    x_c = rng.standard_normal((7, 5))
    x_f = np.asfortranarray(x_c)
    g = rng.standard_normal((7, 3))
    plain, fast = nn.Linear(5, 3, generator=1).double(), nn.Linear(5, 3, generator=1).double()
    plain(x_c)
    fast(x_f)
    grad_c, grad_f = plain.backward(g), fast.backward(g)
    assert grad_f.flags.f_contiguous and not grad_f.flags.c_contiguous  # the input's layout
    np.testing.assert_allclose(grad_f, grad_c, rtol=1e-13)
    np.testing.assert_allclose(fast.weight.grad, plain.weight.grad, rtol=1e-13)
    np.testing.assert_allclose(fast.bias.grad, plain.bias.grad, rtol=1e-13)


def test_linear_refuses_negative_sizes_and_takes_zero() -> None:
    torch = pytest.importorskip("torch")
    for sizes in ((-1, 3), (3, -1)):
        with pytest.raises(ValueError, match="must be non-negative"):
            nn.Linear(*sizes)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):  # as torch's
        empty = nn.Linear(0, 3, generator=0)  # no inputs: the output is the bias
        theirs = torch.nn.Linear(0, 3)
    assert empty.bias is not None
    # the bias bound 1/√fan_in has no fan_in: torch's is 0, so the bias is zero
    np.testing.assert_array_equal(empty.bias.data, theirs.bias.detach().numpy())
    np.testing.assert_array_equal(
        empty(np.zeros((2, 0), np.float32)), np.tile(empty.bias.data, (2, 1))
    )
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        no_outputs = nn.Linear(3, 0, generator=0)  # the mutation run: (3, 0) was untried
    x = np.ones((2, 3), np.float32)
    assert no_outputs(x).shape == (2, 0)
    np.testing.assert_array_equal(no_outputs.backward(np.zeros((2, 0), np.float32)), 0 * x)


def test_flatten_and_unflatten_at_the_edges_of_their_dims_as_torch() -> None:
    """The ends of the dimension ranges (the mutation run: a 0-d input counted as 2-D, and
    Unflatten's dim = -ndim, both survived)."""
    torch = pytest.importorskip("torch")
    assert nn.Flatten(0)(np.array(3.0)).shape == torch.nn.Flatten(0)(torch.tensor(3.0)).shape
    with pytest.raises(ValueError, match="Flatten"):
        nn.Flatten()(np.zeros(3))  # start_dim 1 of a 1-D input: torch's IndexError
    ours = nn.Unflatten(-2, (2, 3))(np.zeros((6, 4)))
    assert ours.shape == torch.nn.Unflatten(-2, (2, 3))(torch.zeros(6, 4)).shape == (2, 3, 4)


@pytest.mark.parametrize(("min_val", "max_val"), [(0.5, 0.5), (1.0, -1.0)])
def test_hardtanh_refuses_max_val_not_above_min_val_as_torch(
    min_val: float, max_val: float
) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="must be greater than min_val"):
        nn.Hardtanh(min_val, max_val)
    with pytest.raises((AssertionError, ValueError, RuntimeError)):
        torch.nn.Hardtanh(min_val, max_val)


@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
def test_softmax_without_dim_picks_torchs_legacy_dimension(
    name: str, shape: tuple[int, ...]
) -> None:
    """dim 0 for 0-, 1- and 3-d input, 1 otherwise (torch's _get_softmax_dim)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=shape)
    with pytest.warns(UserWarning, match="(?i)implicit dimension"):
        expected = getattr(torch.nn, name)()(torch.from_numpy(x)).numpy()
    with pytest.warns(UserWarning, match="implicit dimension") as caught:
        np.testing.assert_allclose(getattr(nn, name)()(x), expected, rtol=1e-14)
    assert caught[0].filename == __file__  # the warning points at the layer's caller


@pytest.mark.parametrize("dim", [-3, -2, 1, 2])
@pytest.mark.parametrize("shape", [(), (4,)])
def test_softmax_refuses_a_dimension_out_of_range_by_name(dim: int, shape: tuple[int, ...]) -> None:
    for layer in (nn.Softmax(dim), nn.LogSoftmax(dim)):
        with pytest.raises(ValueError, match=rf"Softmax\(dim={dim}\).*with a dimension {dim}"):
            layer(np.zeros(shape))
