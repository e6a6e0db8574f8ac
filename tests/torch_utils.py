"""Helpers for the agreement tests with PyTorch (skipped cleanly without torch).

Tolerance: an element agrees when ``|a - e| ≤ rtol·|e| + max(rtol·max|e|, atol)``:
relative to itself, and for elements near zero (where different summation orders leave
absolute errors of the tensor's scale) relative to the largest element of the tensor;
float32 comparisons also accept the case's ``torch_atol32`` (1e-5, torch.testing's
float32 default) absolute, for sums that cancel.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from refnet._typing import Array
from tests.cases.registry import ModuleCase
from tests.structure import (
    call_backward,
    input_gradients,
    is_float,
    leaves,
    map_structure,
    upstream,
)

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


def _to_torch_structure(value: Any, requires_grad: bool) -> Any:
    """Arrays to tensors (floating ones tracking gradients when asked), keeping the nesting."""
    if isinstance(value, np.ndarray):
        floating = bool(np.issubdtype(value.dtype, np.floating))
        return torch.from_numpy(value.copy()).requires_grad_(requires_grad and floating)
    if isinstance(value, tuple | list):
        return tuple(_to_torch_structure(v, requires_grad) for v in value)
    return value


def check_module_against_torch(case: ModuleCase, dtype: type[np.floating]) -> None:
    """Forward outputs, input gradients, parameter gradients and state must equal torch's.

    Modules with several inputs and outputs are compared output by output and input by
    input; torch backpropagates the same upstream gradients (``None`` for unused outputs).
    """
    rtol = getattr(case, RTOL[np.dtype(dtype)])
    atol = case.torch_atol32 if np.dtype(dtype) == np.float32 else 0.0
    module = copy.deepcopy(case.module).to(dtype)
    theirs = (case.to_torch or to_torch)(module)
    inputs = map_structure(lambda a: a.astype(dtype) if is_float(a) else a, case.inputs)
    kwargs = case.forward_kwargs
    if case.reset is not None:
        case.reset()
    y = module(*inputs, **kwargs)
    G = upstream(y, 0, case.unused)
    returned = call_backward(module, G)

    t_inputs = _to_torch_structure(inputs, requires_grad=True)
    t_kwargs = {k: _to_torch_structure(v, requires_grad=False) for k, v in kwargs.items()}
    ty = theirs(*t_inputs, **t_kwargs)
    used = [(t, torch.from_numpy(g)) for (_, t), (_, g) in _paired_leaves(ty, G)]
    torch.autograd.backward([t for t, _ in used], [g for _, g in used])

    name = module.describe()
    for (path, ours), (_, their) in zip(leaves(y), _tensor_leaves(ty), strict=True):
        assert_close(ours, to_array(their), rtol, f"{name}: forward output {path}", atol)
    t_leaves = dict(_tensor_leaves(t_inputs))
    pairs = input_gradients(returned, inputs)
    float_paths = [path for path, a in leaves(inputs) if is_float(a)]
    for path, (_, grad) in zip(float_paths, pairs, strict=True):
        tensor = t_leaves[path]
        assert tensor.grad is not None, f"{name}: torch computed no gradient for input {path}"
        assert_close(grad, to_array(tensor.grad), rtol, f"{name}: gradient of input {path}", atol)
    their_params = dict(theirs.named_parameters())
    for key, param in module.named_parameters():
        grad = their_params[key].grad
        assert grad is not None, f"{name}: torch computed no gradient for {key}"
        assert_close(param.grad, to_array(grad), rtol, f"{name}: gradient of {key}", atol)
    their_state = theirs.state_dict()
    for key, value in module.state_dict().items():
        assert_close(value, to_array(their_state[key]), rtol, f"{name}: state {key}", atol)


def _tensor_leaves(value: Any, path: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], Any]]:
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    if isinstance(value, tuple | list):
        return [leaf for i, v in enumerate(value) for leaf in _tensor_leaves(v, (*path, i))]
    return []


def _paired_leaves(ty: Any, G: Any) -> list[tuple[tuple[Any, Any], tuple[Any, Any]]]:
    """(torch output, upstream gradient) leaf pairs for the outputs that have a gradient."""
    grads = dict(leaves(G))
    return [((p, t), (p, grads[p])) for p, t in _tensor_leaves(ty) if p in grads]
