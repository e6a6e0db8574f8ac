"""Containers: PyTorch's names, semantics and ``state_dict`` keys.

``Sequential``'s list operations and ``ModuleList``, ``ModuleDict``, ``ParameterList``,
``ParameterDict``. Where torch is installed the same operations run on torch's
containers and the children and keys must agree.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
import refnet.optim as optim

# Holders: containers without a forward of their own. Each entry builds a populated one;
# tests/test_coverage.py requires every public holder class to be listed here.
HOLDER_CASES: dict[type[nn.Module], Callable[[], nn.Module]] = {
    nn.ModuleList: lambda: nn.ModuleList([nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]),
    nn.ModuleDict: lambda: nn.ModuleDict({"encoder": nn.Linear(2, 3), "act": nn.Tanh()}),
    nn.ParameterList: lambda: nn.ParameterList([np.ones((2, 3)), np.zeros(4)]),
    nn.ParameterDict: lambda: nn.ParameterDict({"scale": np.ones(3), "shift": np.zeros(3)}),
}
by_holder = pytest.mark.parametrize("cls", list(HOLDER_CASES), ids=lambda c: c.__name__)


def _kinds(container: Any) -> list[str]:
    return [type(child).__name__ for child in container]


def _layers() -> list[nn.Module]:
    return [nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3), nn.Tanh()]


# ---------------------------------------------------------------------- Sequential


def test_sequential_insert_extend_pop_and_renumbering() -> None:
    a, b, c, d = _layers()
    seq = nn.Sequential(a, b)
    assert seq.insert(1, c) is seq
    assert list(seq) == [a, c, b] and list(seq._modules) == ["0", "1", "2"]
    seq.insert(-1, d)
    assert list(seq) == [a, c, d, b]
    assert seq.pop(1) is c and list(seq) == [a, d, b]
    popped = seq.pop(slice(0, 2))
    assert isinstance(popped, nn.Sequential) and list(popped) == [a, d]
    assert list(seq) == [b] and list(seq._modules) == ["0"]
    seq.extend([c, d])
    assert list(seq) == [b, c, d]
    with pytest.raises(IndexError, match="out of range"):
        seq.insert(5, a)
    with pytest.raises(TypeError, match="is not a Module"):
        seq.insert(0, "relu")  # type: ignore[arg-type]


def test_sequential_setitem_delitem_add_and_repeat() -> None:
    a, b, c, d = _layers()
    seq = nn.Sequential(a, b, c)
    seq[-1] = d
    assert list(seq) == [a, b, d]
    seq[1] = c
    del seq[0]
    assert list(seq) == [c, d] and sorted(seq.state_dict()) == ["0.bias", "0.weight"]
    both = seq + nn.Sequential(a)
    assert list(both) == [c, d, a] and list(seq) == [c, d]
    seq += nn.Sequential(b)
    assert list(seq) == [c, d, b]
    assert list(nn.Sequential(a, b) * 2) == [a, b, a, b]
    with pytest.raises(ValueError, match="positive"):
        nn.Sequential(a) * 0
    with pytest.raises(IndexError):
        del seq[3]


def test_sequential_operations_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(*_layers())
    theirs = torch.nn.Sequential(
        torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3), torch.nn.Tanh()
    )
    for container, lin in ((ours, nn.Linear(3, 3)), (theirs, torch.nn.Linear(3, 3))):
        container.insert(1, lin)
        del container[0]
        container.append(container.pop(0))
        container.extend([container[0]])
    assert _kinds(ours) == _kinds(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ---------------------------------------------------------------------- ModuleList


def test_module_list_is_a_list_of_registered_modules() -> None:
    a, b, c, d = _layers()
    blocks = nn.ModuleList([a, b])
    blocks.append(c).extend([d])
    assert len(blocks) == 4 and list(blocks) == [a, b, c, d]
    assert blocks[-1] is d and list(blocks[1:3]) == [b, c]
    assert isinstance(blocks[1:3], nn.ModuleList)
    blocks.insert(0, d)
    assert list(blocks) == [d, a, b, c, d]
    assert blocks.pop() is d and blocks.pop(0) is d
    blocks[1] = d
    del blocks[0]
    assert list(blocks) == [d, c]
    assert list(blocks + nn.ModuleList([a])) == [d, c, a]
    blocks += [b]
    assert list(blocks) == [d, c, b] and list(blocks._modules) == ["0", "1", "2"]
    assert sorted(blocks.state_dict()) == ["1.bias", "1.weight"]
    with pytest.raises(IndexError):
        blocks[3]
    with pytest.raises(NotImplementedError, match="has no forward"):
        blocks(np.ones(1))


def test_module_list_parameters_reach_the_optimizer_once() -> None:
    lin = nn.Linear(2, 2)
    blocks = nn.ModuleList([lin, nn.ReLU(), lin])
    assert len(list(blocks.parameters())) == 2
    optimizer = optim.SGD(blocks.parameters(), lr=1.0)
    lin.weight.grad[...] = 1.0
    before = lin.weight.data.copy()
    optimizer.step()
    np.testing.assert_allclose(lin.weight.data, before - 1.0)


def test_module_list_repr_folds_repeats_like_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU(), nn.Linear(2, 1)])
    theirs = torch.nn.ModuleList(
        [torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU(), torch.nn.Linear(2, 1)]
    )
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())


def test_module_list_operations_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList(_layers())
    theirs = torch.nn.ModuleList(
        [torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3), torch.nn.Tanh()]
    )
    for blocks, lin in ((ours, nn.Linear(3, 3)), (theirs, torch.nn.Linear(3, 3))):
        blocks.insert(2, lin)
        del blocks[0]
        blocks.append(blocks.pop(1))
        blocks[0] = blocks[-1]
    assert _kinds(ours) == _kinds(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ---------------------------------------------------------------------- ModuleDict


def test_module_dict_by_name() -> None:
    enc, act, dec = nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)
    parts = nn.ModuleDict({"encoder": enc, "act": act})
    parts["decoder"] = dec
    assert parts.keys() == ["encoder", "act", "decoder"] and list(parts) == parts.keys()
    assert parts.values() == [enc, act, dec] and parts.items()[0] == ("encoder", enc)
    assert "act" in parts and "missing" not in parts and len(parts) == 3
    assert sorted(parts.state_dict()) == [
        "decoder.bias",
        "decoder.weight",
        "encoder.bias",
        "encoder.weight",
    ]
    assert parts.pop("act") is act and "act" not in parts
    parts.update([("act", nn.ReLU())])
    assert parts.keys() == ["encoder", "decoder", "act"]
    with pytest.raises(KeyError):
        parts["missing"]
    with pytest.raises(KeyError, match=r"without '\.'"):
        parts["a.b"] = enc
    parts.clear()
    assert len(parts) == 0 and not list(parts.parameters())


# ---------------------------------------------------------------------- ParameterList / Dict


def test_parameter_list_wraps_arrays_and_keeps_parameters() -> None:
    shared = nn.Parameter(np.ones(3))
    params = nn.ParameterList([np.zeros((2, 2)), shared])
    assert isinstance(params[0], nn.Parameter) and params[1] is shared
    params.append(np.full(2, 2.0))
    params += [np.ones(1)]
    assert len(params) == 4 and [p.shape for p in params] == [(2, 2), (3,), (2,), (1,)]
    assert list(params.state_dict()) == ["0", "1", "2", "3"]
    params[0] = np.ones((2, 2))
    np.testing.assert_array_equal(params[0].data, np.ones((2, 2)))
    assert isinstance(params[1:], nn.ParameterList) and len(params[1:]) == 3
    with pytest.raises(TypeError, match="holds parameters, not modules"):
        params.append(nn.ReLU())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="floating-point"):
        params.append(np.arange(3))


def test_parameter_dict_by_name() -> None:
    params = nn.ParameterDict({"scale": np.ones(3)})
    params["shift"] = np.zeros(3)
    assert params.keys() == ["scale", "shift"] and "shift" in params
    assert [p.shape for p in params.values()] == [(3,), (3,)]
    assert params.get("missing") is None and params.get("scale") is params["scale"]
    assert params.pop("scale").shape == (3,) and params.keys() == ["shift"]
    params.update({"bias": np.ones(2)})
    assert sorted(params.state_dict()) == ["bias", "shift"]
    params.clear()
    assert len(params) == 0


# ---------------------------------------------------------------------- every holder


@by_holder
def test_holder_state_dict_keys_and_values_match_torch(cls: type[nn.Module]) -> None:
    pytest.importorskip("torch")
    from refnet.interop.torch import from_torch, to_torch

    ours = HOLDER_CASES[cls]()
    theirs = to_torch(ours)
    assert type(theirs).__name__ == cls.__name__
    assert list(theirs.state_dict()) == list(ours.state_dict())
    back = from_torch(theirs)
    assert type(back) is cls
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value, err_msg=key)


@by_holder
def test_holder_round_trips_state_and_copies(cls: type[nn.Module]) -> None:
    original = HOLDER_CASES[cls]()
    clone = copy.deepcopy(original)
    for param in clone.parameters():
        param.data += 1.0
    clone.load_state_dict(original.state_dict())
    for key, value in original.state_dict().items():
        np.testing.assert_array_equal(clone.state_dict()[key], value, err_msg=key)
    assert repr(clone) == repr(original)
    with pytest.raises(NotImplementedError, match="no forward"):
        original.forward()
    with pytest.raises(NotImplementedError, match="no backward"):
        original.backward()


def test_module_list_repr_counts_a_run_that_does_not_start_at_zero() -> None:
    """``(1-3): 3 x Linear``: the count is last − first + 1 (the mutation run: the folded
    run in the other test starts at 0, where last + first + 1 gives the same)."""
    torch = pytest.importorskip("torch")
    ours = nn.ModuleList([nn.ReLU()] + [nn.Linear(2, 2) for _ in range(3)])
    theirs = torch.nn.ModuleList([torch.nn.ReLU()] + [torch.nn.Linear(2, 2) for _ in range(3)])
    assert repr(ours) == repr(theirs)
    assert "(1-3): 3 x Linear" in repr(ours)


def test_holder_index_bounds_as_torch() -> None:
    """Index ``len`` is out of range, inserting at ``len`` appends, as ``list`` (the
    mutation run: both bounds could be moved by one). A bool is refused as a position
    (torch's ``operator.index`` would read it as 0 or 1)."""
    a, b, c, _ = _layers()
    blocks = nn.ModuleList([a, b])
    with pytest.raises(IndexError, match="out of range"):
        blocks[2]
    assert blocks[-2] is a
    blocks.insert(2, c)
    assert list(blocks) == [a, b, c]
    with pytest.raises(TypeError, match="integers or slices"):
        blocks[True]  # type: ignore[index]


def test_sequential_repeated_once_is_itself_in_a_new_container() -> None:
    a, b, _, _ = _layers()
    once = nn.Sequential(a, b) * 1
    assert isinstance(once, nn.Sequential) and list(once) == [a, b]
