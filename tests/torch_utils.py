"""Helpers for the agreement tests with PyTorch (skipped cleanly without torch).

Tolerance: an element agrees when ``|a - e| ≤ rtol·|e| + max(rtol·max|e|, atol)``:
relative to itself, and for elements near zero (where different summation orders leave
absolute errors of the tensor's scale) relative to the largest element of the tensor;
float32 comparisons also accept the case's ``torch_atol32`` (1e-5, torch.testing's
float32 default) absolute, for sums that cancel.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from refnet._typing import Array
from tests.cases.registry import ModuleCase

torch = pytest.importorskip("torch", reason="torch is not installed: agreement tests skipped")
from refnet.interop.torch import to_array, to_torch  # noqa: E402

RTOL = {np.dtype(np.float64): "torch_rtol64", np.dtype(np.float32): "torch_rtol32"}


def assert_close(actual: Array, expected: Array, rtol: float, what: str, atol: float = 0.0) -> None:
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape} != torch's {expected.shape}"
    )
    assert actual.dtype == expected.dtype, (
        f"{what}: dtype {actual.dtype} != torch's {expected.dtype}"
    )
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(
        actual, expected, rtol=rtol, atol=max(rtol * scale, atol), err_msg=what
    )


def check_module_against_torch(case: ModuleCase, dtype: type[np.floating]) -> None:
    """Forward output, input gradient, parameter gradients and state must equal torch's."""
    rtol = getattr(case, RTOL[np.dtype(dtype)])
    atol = case.torch_atol32 if np.dtype(dtype) == np.float32 else 0.0
    module = copy.deepcopy(case.module).to(dtype)
    theirs = (case.to_torch or to_torch)(module)
    x = case.x if np.issubdtype(case.x.dtype, np.integer) else case.x.astype(dtype)
    if case.reset is not None:
        case.reset()
    y = module(x)
    G = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    grad_x = module.backward(G)

    differentiable = np.issubdtype(x.dtype, np.floating)
    tx = torch.from_numpy(x.copy()).requires_grad_(differentiable)
    ty = theirs(tx)
    ty.backward(torch.from_numpy(G))

    name = module.describe()
    assert_close(y, to_array(ty), rtol, f"{name}: forward", atol)
    if differentiable:
        assert tx.grad is not None, f"{name}: torch computed no input gradient"
        assert_close(grad_x, to_array(tx.grad), rtol, f"{name}: input gradient", atol)
    their_params = dict(theirs.named_parameters())
    for key, param in module.named_parameters():
        grad = their_params[key].grad
        assert grad is not None, f"{name}: torch computed no gradient for {key}"
        assert_close(param.grad, to_array(grad), rtol, f"{name}: gradient of {key}", atol)
    their_state = theirs.state_dict()
    for key, value in module.state_dict().items():
        assert_close(value, to_array(their_state[key]), rtol, f"{name}: state {key}", atol)
