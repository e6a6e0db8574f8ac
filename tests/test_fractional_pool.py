"""Fractional max pooling beyond the registry's generic tests: the windows' starts, the
functional forms against torch's, the attributes, fresh samples each forward, refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.nn.fractional import fractional_starts

torch = pytest.importorskip("torch")


def test_window_starts_cover_the_side_in_steps_of_floor_or_ceil_alpha() -> None:
    for sample in (0.0, 0.3, 0.999):
        starts = fractional_starts(sample, 25, 10, 3, np.float64)
        assert starts[0] == 0 and starts[-1] == 25 - 3
        assert set(np.diff(starts)) <= {2, 3}  # α = 22/9 ≈ 2.44


# torch's functional forms take len() of the ratio: a tuple, not a float.
RATIO = {2: (0.6, 0.5), 3: (0.6, 0.5, 0.7)}


@pytest.mark.parametrize("dims", [2, 3])
def test_functional_forms_and_backward_match_torch(dims: int) -> None:
    rng = np.random.default_rng(dims)
    shape = (2, 3, *([9] * dims))
    x, samples = rng.normal(size=shape), rng.random((2, 3, dims))
    ours_f = getattr(F, f"fractional_max_pool{dims}d")
    theirs_f = getattr(torch.nn.functional, f"fractional_max_pool{dims}d")
    t = torch.tensor(x, requires_grad=True)
    ty, ti = theirs_f(
        t, 2, output_ratio=RATIO[dims], return_indices=True, _random_samples=torch.tensor(samples)
    )
    y, i = ours_f(x, 2, output_ratio=RATIO[dims], return_indices=True, _random_samples=samples)
    np.testing.assert_array_equal(y, ty.detach().numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    grad = rng.normal(size=y.shape)
    ty.backward(torch.from_numpy(grad))
    backward = getattr(F, f"fractional_max_pool{dims}d_backward")
    dx = backward(grad, x, 2, output_ratio=RATIO[dims], _random_samples=samples)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12)
    message = f"fractional_max_pool{dims}d_backward needs the forward's _random_samples"
    with pytest.raises(ValueError, match=message):
        backward(grad, x, 2, output_ratio=RATIO[dims])


def test_attributes_and_repr_are_torchs() -> None:
    ours = nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.7))
    theirs = torch.nn.FractionalMaxPool2d(3, output_ratio=(0.5, 0.7))
    for name in ("kernel_size", "output_size", "output_ratio", "return_indices"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(ours) == repr(theirs)


def test_fresh_samples_each_forward_from_the_generator() -> None:
    x = np.random.default_rng(0).normal(size=(4, 2, 16, 16))
    layer = nn.FractionalMaxPool2d(2, output_size=7, generator=3)
    first, second = layer(x), layer(x)
    assert not np.array_equal(first, second)  # new windows, new maxima
    again = nn.FractionalMaxPool2d(2, output_size=7, generator=3)
    np.testing.assert_array_equal(again(x), first)  # the same seed, the same run
    unbatched = nn.FractionalMaxPool3d(2, output_size=3, _random_samples=np.full((1, 2, 3), 0.5))
    assert unbatched(x[0, :, :8, :8, None].repeat(5, axis=-1)).shape == (2, 3, 3, 3)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="exactly one of output_size and output_ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="exactly one of output_size and output_ratio"):
        nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="too large"):
        nn.FractionalMaxPool2d(4, output_size=6)(np.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match="expected a 3-D or 4-D input"):
        nn.FractionalMaxPool2d(2, output_size=2)(np.zeros((8, 8)))


def test_the_2d_windows_may_end_at_the_border_and_an_unbatched_input_gets_its_gradient() -> None:
    """From the mutation run: the 2-D layer allows output + kernel − 1 == input (torch's
    rule; the 3-D one needs it strictly smaller), and an unbatched input's backward has
    its shape."""
    x = np.random.default_rng(2).normal(size=(3, 8, 8))
    samples = np.full((1, 3, 2), 0.25)
    layer = nn.FractionalMaxPool2d(3, output_size=6, _random_samples=samples)
    y = layer(x)
    theirs = torch.nn.FractionalMaxPool2d(
        3, output_size=6, _random_samples=torch.from_numpy(samples)
    )
    np.testing.assert_array_equal(y, theirs(torch.from_numpy(x)).numpy())
    grad = layer.backward(np.ones_like(y))
    assert grad.shape == x.shape and grad.sum() == y.size
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=0.0)


@pytest.mark.parametrize(("dims", "largest"), [(2, 6), (3, 5)])
def test_output_sizes_at_the_edges_as_torch(dims: int, largest: int) -> None:
    """On a side of 7 with kernel 2: outputs of 0 and 1 (no step between starts to
    divide by, and no warning) up to the largest torch takes (7 - 2 + 1 in 2-D, one less
    in 3-D, whose last window keeps a spare row), and the next one refused by both."""
    x = np.random.default_rng(0).normal(size=(1, 2) + (7,) * dims)
    ours_cls = nn.FractionalMaxPool2d if dims == 2 else nn.FractionalMaxPool3d
    theirs_cls = torch.nn.FractionalMaxPool2d if dims == 2 else torch.nn.FractionalMaxPool3d
    for out in (0, 1, largest):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = ours_cls(2, output_size=out, generator=0)(x)
        assert ours.shape == tuple(theirs_cls(2, output_size=out)(torch.from_numpy(x)).shape)
    with pytest.raises(RuntimeError, match="too large"):
        theirs_cls(2, output_size=largest + 1)(torch.from_numpy(x))
    with pytest.raises(ValueError, match="too large"):
        ours_cls(2, output_size=largest + 1, generator=0)(x)


@pytest.mark.parametrize("dims", [2, 3])
def test_the_with_indices_forms_are_named_and_pool_as_torchs(dims: int) -> None:
    name = f"fractional_max_pool{dims}d_with_indices"
    ours, backward = getattr(F, name), getattr(F, f"{name}_backward")
    assert (ours.__name__, backward.__name__) == (name, f"{name}_backward")
    rng = np.random.default_rng(dims)
    x, samples = rng.normal(size=(2, 3, *([7] * dims))), rng.random((2, 3, dims))
    y, i = ours(x, 2, output_size=3, _random_samples=samples)
    ty, ti = getattr(torch.nn.functional, name)(
        torch.tensor(x), 2, output_size=3, _random_samples=torch.tensor(samples)
    )
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
