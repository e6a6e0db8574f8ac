"""What a PyTorch tutorial's code does with refnet's objects (issue 16's frictions).

``loss.item()``, ``model.to("cpu")``, ``import refnet`` reaching ``refnet.optim``, and a
``Parameter`` used where a tensor would be (``np.asarray(p)``, indexing, ``.item()``,
arithmetic, ``p -= lr * g`` in place).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import refnet


def test_the_loss_is_a_float_with_item() -> None:
    criterion = refnet.nn.MSELoss()
    loss = criterion(np.ones(3), np.zeros(3))
    assert isinstance(loss, float) and loss.item() == 1.0 and type(loss.item()) is float
    assert json.dumps({"loss": loss}) == '{"loss": 1.0}' and f"{loss:.2f}" == "1.00"


def test_to_accepts_the_cpu_and_refuses_other_devices() -> None:
    model = refnet.nn.Linear(2, 2)
    assert model.to("cpu") is model and model.weight.dtype == np.float32
    model.to("cpu", np.float64)
    assert model.weight.dtype == np.float64
    model.to(dtype=np.float32)
    assert model.weight.dtype == np.float32
    with pytest.raises(ValueError, match="on the CPU"):
        model.to("cuda:0")
    with pytest.raises(TypeError, match="two dtypes"):
        model.to(np.float32, np.float64)


def test_import_refnet_reaches_its_packages() -> None:
    assert refnet.optim.SGD and refnet.nn.Linear and refnet.data.DataLoader


def test_a_parameter_acts_as_its_array() -> None:
    p = refnet.nn.Parameter(np.array([[1.0, 2.0], [3.0, 4.0]]))
    data = p.data
    assert np.shares_memory(np.asarray(p), data) and p[1, 0] == 3.0 and p[0].tolist() == [1.0, 2.0]
    assert p.T[0, 1] == 3.0 and p.sum() == 10.0 and p.shape == (2, 2) and len(p) == 2
    assert refnet.nn.Parameter(np.array(2.5)).item() == 2.5
    np.testing.assert_array_equal(p * 2, 2 * data)
    np.testing.assert_array_equal(1 - p, 1 - data)
    np.testing.assert_array_equal(p @ np.eye(2), data)
    np.testing.assert_array_equal(np.exp(p), np.exp(data))
    p.grad[...] = 1.0
    p -= 0.5 * p.grad  # the update of a hand-written SGD loop, in place
    p[0, 0] = 9.0
    assert p.data is data and data.tolist() == [[9.0, 1.5], [2.5, 3.5]]
    assert {p: "state"}[p] == "state"  # still hashable by identity, as an optimizer needs


def test_a_parameter_still_copies_as_a_parameter() -> None:
    import copy

    p = refnet.nn.Parameter(np.ones(2))
    for clone in (copy.copy(p), copy.deepcopy(p)):
        assert isinstance(clone, refnet.nn.Parameter) and clone is not p
    assert not np.shares_memory(copy.deepcopy(p).data, p.data)
