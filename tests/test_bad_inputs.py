"""A catalogue of bad calls for every registered module: clear errors, or torch's result.

The modules come from the case registry, which ``test_coverage`` keeps complete, so a new
layer joins this suite by existing. For each, one drawn case, and these calls:

* ``backward`` before any ``forward``: a ``RuntimeError`` that says so;
* an input of integer, boolean, complex or object dtype (modules that take indices
  aside): a ``TypeError`` or ``ValueError`` whose message names the module (or the layer
  inside a container that refused it); Identity, Flatten and Unflatten, which only move
  numbers, take any dtype as torch's do;
* an extra leading dimension, the input flattened to one dimension, an empty batch:
  refnet raises a ``TypeError``/``ValueError`` naming the module (allowed even where
  torch computes something), or returns an output of torch's shape where torch runs
  too; computing something where torch refuses is a failure;
* after a good forward, a gradient of the wrong shape, of integer dtype or of another
  floating dtype than the output's: a ``TypeError``/``ValueError`` naming the module
  (torch's autograd would cast the last; refnet casts nothing, so a float64 gradient
  cannot turn a float32 network's backward float64).

The array-shape calls are made on the first input; the dtype calls on every floating
input of a module with several. Every registered loss gets ``backward`` before a call,
inputs of integer, complex and object dtype, and a target of another shape: each a clear
error naming the loss.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from refnet.nn import Module
from tests.cases.registry import LOSS_CASES, MODULE_CASES, NOT_IN_TORCH, ModuleCase

CLASSES = sorted(MODULE_CASES, key=lambda c: c.__name__)
ONE_EXAMPLE = settings(
    max_examples=1,
    deadline=None,
    derandomize=True,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
CLEAR = (TypeError, ValueError)


def names_module(error: BaseException, module: Module) -> bool:
    """The message names the module, or the layer inside it that refused the input."""
    return any(f"{type(m).__name__}(" in str(error) for m in module.modules())


#: Modules that only move numbers (torch's take any dtype, and so do refnet's).
DTYPE_AGNOSTIC = {"Identity", "Flatten", "Unflatten"}


def first_array(tree: Any) -> np.ndarray[Any, Any] | None:
    """The first array of a (nested) output, or None."""
    if isinstance(tree, np.ndarray):
        return tree
    if isinstance(tree, tuple):
        for item in tree:
            found = first_array(item)
            if found is not None:
                return found
    return None


def gradients_like(tree: Any) -> Any:
    """Ones in the shape of every array output (None elsewhere)."""
    if isinstance(tree, np.ndarray):
        return np.ones_like(tree)
    if isinstance(tree, tuple):
        return tuple(gradients_like(item) for item in tree)
    return None


def call_backward(module: Module, grads: Any) -> Any:
    return module.backward(*grads) if isinstance(grads, tuple) else module.backward(grads)


def fresh(case: ModuleCase) -> Module:
    return copy.deepcopy(case.module)


def with_input(case: ModuleCase, index: int, value: Any) -> tuple[Any, ...]:
    inputs = list(case.inputs)
    inputs[index] = value
    return tuple(inputs)


def float_indices(case: ModuleCase) -> list[int]:
    return [
        k
        for k, a in enumerate(case.inputs)
        if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)
    ]


def run(module: Module, case: ModuleCase, inputs: tuple[Any, ...]) -> Any:
    if case.reset is not None:
        case.reset()
    return module(*inputs, **case.forward_kwargs)


def torch_accepts(case: ModuleCase, inputs: tuple[Any, ...]) -> tuple[bool, Any]:
    """Whether torch's twin runs on ``inputs``, and its first output's shape."""
    torch = pytest.importorskip("torch")
    from refnet.interop.torch import to_torch

    twin = case.to_torch(fresh(case)) if case.to_torch is not None else to_torch(fresh(case))
    tensors = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in inputs]
    kwargs = {
        k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
        for k, v in case.forward_kwargs.items()
    }
    try:
        out = twin(*tensors, **kwargs)
    except Exception:  # torch's errors are of several kinds (RuntimeError, ValueError, ...)
        return False, None
    first = (
        out
        if isinstance(out, torch.Tensor)
        else next((o for o in out if isinstance(o, torch.Tensor)), None)
    )
    return True, None if first is None else tuple(first.shape)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@ONE_EXAMPLE
@given(data=st.data())
def test_backward_before_forward_says_so(cls: type[Module], data: st.DataObject) -> None:
    case = data.draw(MODULE_CASES[cls])
    module = fresh(case)
    out = run(copy.deepcopy(case.module), case, case.inputs)
    with pytest.raises(RuntimeError, match="forward"):
        call_backward(module, gradients_like(out))


BAD_DTYPES = {
    "int64": lambda a: np.round(a).astype(np.int64),
    "bool": lambda a: a > 0,
    "complex": lambda a: a.astype(np.complex128),
    "object": lambda a: a.astype(object),
}


@pytest.mark.parametrize("dtype", sorted(BAD_DTYPES))
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@ONE_EXAMPLE
@given(data=st.data())
def test_an_input_of_another_kind_is_refused_by_name(
    cls: type[Module], dtype: str, data: st.DataObject
) -> None:
    case = data.draw(MODULE_CASES[cls])
    if not float_indices(case):
        pytest.skip("takes no floating input (indices)")
    for k in float_indices(case):
        module = fresh(case)
        bad = with_input(case, k, BAD_DTYPES[dtype](case.inputs[k]))
        if cls.__name__ in DTYPE_AGNOSTIC:
            out = run(module, case, bad)
            assert out.dtype == bad[k].dtype and out.size == bad[k].size
            continue
        with pytest.raises(CLEAR) as info:
            run(module, case, bad)
        assert names_module(info.value, module), str(info.value)


RESHAPES = {
    "an extra leading dimension": lambda a: a[None],
    "flattened": lambda a: a.reshape(-1),
    "an empty batch": lambda a: a[:0],
}


@pytest.mark.parametrize("change", sorted(RESHAPES))
@pytest.mark.parametrize(
    "cls", [c for c in CLASSES if c not in NOT_IN_TORCH], ids=lambda c: c.__name__
)
@ONE_EXAMPLE
@given(data=st.data())
def test_a_reshaped_input_is_refused_clearly_or_gives_torchs_shape(
    cls: type[Module], change: str, data: st.DataObject
) -> None:
    case = data.draw(MODULE_CASES[cls])
    if not float_indices(case) or float_indices(case)[0] != 0:
        pytest.skip("the first input is not a floating array (indices, a packed sequence)")
    bad = with_input(case, 0, RESHAPES[change](case.inputs[0]))
    accepted, shape = torch_accepts(case, bad)
    module = fresh(case)
    try:
        out = first_array(run(module, case, bad))
    except CLEAR as error:  # refusing clearly is always allowed, even where torch runs
        assert names_module(error, module), str(error)
        return
    assert accepted, "torch refuses this input, refnet computed something"
    assert out is not None and out.shape == shape


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@ONE_EXAMPLE
@given(data=st.data())
def test_a_gradient_of_the_wrong_shape_or_kind_is_refused_by_name(
    cls: type[Module], data: st.DataObject
) -> None:
    case = data.draw(MODULE_CASES[cls])
    corruptions = (
        lambda g: np.ones(g.shape + (2,), g.dtype),  # the wrong shape
        lambda g: g.astype(np.int64),  # not floating
        lambda g: g.astype(np.float32 if g.dtype == np.float64 else np.float64),  # no cast
    )
    for corrupt in corruptions:
        module = fresh(case)
        out = run(module, case, case.inputs)
        grads = gradients_like(out)
        first = first_array(grads)
        assert first is not None
        bad = corrupt(first)
        grads = bad if isinstance(grads, np.ndarray) else _replace_first(grads, bad)
        with pytest.raises(CLEAR) as info:
            call_backward(module, grads)
        assert names_module(info.value, module), str(info.value)


def _replace_first(tree: Any, value: Any) -> Any:
    done = False

    def walk(node: Any) -> Any:
        nonlocal done
        if isinstance(node, np.ndarray) and not done:
            done = True
            return value
        if isinstance(node, tuple):
            return tuple(walk(item) for item in node)
        return node

    return walk(tree)


LOSS_CLASSES = sorted(LOSS_CASES, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", LOSS_CLASSES, ids=lambda c: c.__name__)
@ONE_EXAMPLE
@given(data=st.data())
def test_a_loss_refuses_backward_first_and_inputs_of_another_kind(
    cls: type[Module], data: st.DataObject
) -> None:
    case = data.draw(LOSS_CASES[cls])
    with pytest.raises(RuntimeError, match="forward"):
        copy.deepcopy(case.criterion).backward()
    for k, array in enumerate(case.inputs):
        for dtype in ("int64", "complex", "object"):
            criterion = copy.deepcopy(case.criterion)
            inputs = list(case.inputs)
            inputs[k] = BAD_DTYPES[dtype](array)
            with pytest.raises(CLEAR) as info:
                criterion(*inputs, *case.targets)
            assert names_module(info.value, criterion), str(info.value)


@pytest.mark.parametrize("cls", LOSS_CLASSES, ids=lambda c: c.__name__)
@ONE_EXAMPLE
@given(data=st.data())
def test_a_loss_refuses_a_target_of_another_shape(cls: type[Module], data: st.DataObject) -> None:
    case = data.draw(LOSS_CASES[cls])
    if not case.targets or not isinstance(case.targets[0], np.ndarray):
        pytest.skip("no array target")
    criterion = copy.deepcopy(case.criterion)
    target = case.targets[0]
    wrong = np.concatenate([target.reshape(-1), target.reshape(-1)[:1]])
    with pytest.raises(CLEAR) as info:
        criterion(*case.inputs, wrong, *case.targets[1:])
    assert names_module(info.value, criterion), str(info.value)
