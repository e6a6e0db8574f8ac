"""refnet.nn.functional.stateless_extra: each function and its backward sibling against
torch.nn.functional and torch's autograd, in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn.functional as F

# name -> (input shape, keyword arguments shared by both libraries)
ONE_INPUT: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "celu": ((3, 4), {"alpha": 1.0}),
    "threshold": ((3, 4), {"threshold": 0.3, "value": -2.0}),
    "hardshrink": ((3, 4), {"lambd": 0.4}),
    "softshrink": ((3, 4), {"lambd": 0.4}),
    "tanhshrink": ((3, 4), {}),
    "softmin": ((3, 4), {"dim": 0}),
    "glu": ((3, 4), {"dim": 1}),
    "pixel_shuffle": ((2, 8, 2, 3), {"upscale_factor": 2}),
    "pixel_unshuffle": ((2, 2, 4, 6), {"downscale_factor": 2}),
    "channel_shuffle": ((2, 6, 3), {"groups": 3}),
}


def _torch() -> Any:
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", sorted(ONE_INPUT))
@given(seed=st.integers(0, 2**16))
def test_function_and_its_backward_match_torch(name: str, seed: int) -> None:
    torch = _torch()
    shape, kwargs = ONE_INPUT[name]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, shape)
    ours: Callable[..., Any] = getattr(F, name)
    y = ours(x, **kwargs)
    grad = rng.normal(size=y.shape)
    t = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, name)(t, **kwargs)
    ty.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-15)
    dx = getattr(F, f"{name}_backward")(grad, x, **kwargs)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-15)


@given(seed=st.integers(0, 2**16))
def test_cosine_similarity_and_its_backward_match_torch(seed: int) -> None:
    torch = _torch()
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=(3, 5)), rng.normal(size=(1, 5))
    y = F.cosine_similarity(x1, x2, dim=1)
    grad = rng.normal(size=y.shape)
    t1, t2 = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    torch.nn.functional.cosine_similarity(t1, t2, dim=1).backward(torch.from_numpy(grad))
    g1, g2 = F.cosine_similarity_backward(grad, x1, x2, dim=1)
    np.testing.assert_allclose(g1, t1.grad.numpy(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(g2, t2.grad.numpy(), rtol=1e-10, atol=1e-15)
