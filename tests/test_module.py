"""Module, Parameter and Sequential bookkeeping: registration, traversal, state, modes, repr."""

from __future__ import annotations

import operator
import re
from collections import OrderedDict

import numpy as np
import pytest

import refnet
import refnet.nn as nn
from refnet.nn import Parameter


def mlp(seed: int | None = 0) -> nn.Sequential:
    """4-8-3 MLP; ``seed=None`` draws from refnet's default generator."""
    second = None if seed is None else seed + 1
    return nn.Sequential(
        nn.Linear(4, 8, generator=seed), nn.ReLU(), nn.Linear(8, 3, generator=second)
    )


class Scale(nn.Module):
    """A user-defined module with a parameter, a buffer and a child."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), dtype=np.int64))
        self.inner = nn.Linear(3, 3, generator=0)


def test_parameters_are_registered_in_order_with_torch_names() -> None:
    names = [name for name, _ in mlp().named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_state_dict_has_parameters_and_buffers_under_torch_keys() -> None:
    state = Scale().state_dict()
    assert list(state) == ["gain", "calls", "inner.weight", "inner.bias"]
    assert state["calls"].dtype == np.int64


def test_state_dict_values_are_copies() -> None:
    model = mlp()
    state = model.state_dict()
    model[0].weight.data += 1
    assert not np.array_equal(state["0.weight"], model[0].weight.data)


def test_load_state_dict_copies_in_place_and_keeps_parameter_objects() -> None:
    source, target = mlp(0), mlp(10)
    weight = target[0].weight
    array = weight.data
    target.load_state_dict(source.state_dict())
    assert target[0].weight is weight and weight.data is array
    np.testing.assert_array_equal(weight.data, source[0].weight.data)


def test_load_state_dict_reports_all_problems_and_changes_nothing() -> None:
    model = mlp()
    before = model.state_dict()
    bad = dict(before)
    del bad["0.bias"]
    bad["2.weight"] = np.zeros((5, 5), dtype=np.float32)
    bad["extra"] = np.zeros(1)
    with pytest.raises(ValueError) as error:
        model.load_state_dict(bad)
    message = str(error.value)
    assert "missing key(s): 0.bias" in message
    assert "unexpected key(s): extra" in message
    assert "size mismatch for 2.weight" in message and "(5, 5)" in message and "(3, 8)" in message
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_non_strict_returns_the_incompatible_keys() -> None:
    model = mlp()
    state = model.state_dict()
    del state["2.bias"]
    state["other"] = np.ones(2)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["other"]


def test_shape_mismatch_is_an_error_even_when_not_strict() -> None:
    model = mlp()
    state = model.state_dict()
    state["0.bias"] = np.zeros(7, dtype=np.float32)
    with pytest.raises(ValueError, match=r"size mismatch for 0\.bias"):
        model.load_state_dict(state, strict=False)


def test_to_converts_parameters_gradients_and_float_buffers_only() -> None:
    module = Scale().to(np.float64)
    assert all(
        p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in module.parameters()
    )
    assert module.calls.dtype == np.int64
    assert module.state_dict()["calls"].dtype == np.int64
    assert module.float().gain.dtype == np.float32


def test_to_rejects_non_float_dtypes() -> None:
    with pytest.raises(TypeError, match="floating"):
        mlp().to(np.int32)


def test_train_and_eval_set_the_mode_recursively() -> None:
    model = mlp()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_resets_in_place() -> None:
    model = mlp()
    grad = model[0].weight.grad
    grad += 1
    model.zero_grad()
    assert model[0].weight.grad is grad and not grad.any()


def test_shared_parameters_are_listed_once() -> None:
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3


def test_reassigning_an_attribute_moves_it_between_registries() -> None:
    module = Scale()
    module.gain = None  # a registered parameter may become None
    assert "gain" not in dict(module.named_parameters())
    with pytest.raises(TypeError, match="Parameter or None"):
        module.gain = np.ones(3)
    module.inner = nn.Identity()
    assert isinstance(module.inner, nn.Identity)
    assert "inner.weight" not in module.state_dict()


def test_attribute_before_super_init_fails_clearly() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.weight = Parameter(np.ones(1))

    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_module_repr_is_like_torch() -> None:
    assert repr(mlp()) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Linear(in_features=8, out_features=3, bias=True)\n"
        ")"
    )
    nested = nn.Sequential(nn.Sequential(nn.Tanh()), nn.Softmax(dim=1))
    assert repr(nested) == (
        "Sequential(\n  (0): Sequential(\n    (0): Tanh()\n  )\n  (1): Softmax(dim=1)\n)"
    )


def test_sequential_indexing_length_iteration_and_append() -> None:
    model = mlp()
    assert len(model) == 3
    assert isinstance(model[1], nn.ReLU) and isinstance(model[-1], nn.Linear)
    head = model[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    assert [type(m) for m in model] == [nn.Linear, nn.ReLU, nn.Linear]
    model.append(nn.LogSoftmax(dim=1))
    assert len(model) == 4 and "3" in dict(model.named_children())
    with pytest.raises(IndexError):
        model[4]


def test_sequential_from_ordered_dict_uses_its_names() -> None:
    model = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(model.state_dict()) == ["fc.weight", "fc.bias"]


def test_sequential_rejects_non_modules() -> None:
    with pytest.raises(TypeError, match="argument 1"):
        nn.Sequential(nn.ReLU(), "relu")  # type: ignore[arg-type]


def test_sequential_backward_is_the_chain_rule_in_reverse() -> None:
    model = mlp().double()
    x = np.random.default_rng(0).normal(size=(5, 4))
    G = np.random.default_rng(1).normal(size=(5, 3))
    model(x)
    expected = model[0].backward(model[1].backward(model[2].backward(G)))
    model(x)
    np.testing.assert_array_equal(model.backward(G), expected)


def test_sequential_stops_at_a_layer_that_skips_its_input_gradient() -> None:
    x = np.random.default_rng(0).normal(size=(5, 2, 2))
    G = np.random.default_rng(1).normal(size=(5, 3))
    full = nn.Sequential(nn.Flatten(), *mlp()).double()
    skipping = nn.Sequential(nn.Flatten(), *mlp()).double()
    skipping[1].needs_input_grad = False
    full(x)
    skipping(x)
    assert full.backward(G).shape == x.shape
    assert skipping.backward(G) is None
    for (name, p), q in zip(full.named_parameters(), skipping.parameters(), strict=True):
        np.testing.assert_array_equal(q.grad, p.grad, err_msg=name)


def test_sequential_refuses_to_stop_above_a_trainable_layer() -> None:
    model = mlp().double()
    model[2].needs_input_grad = False
    model(np.ones((2, 4)))
    with pytest.raises(RuntimeError, match=r"Linear\(in_features=4.* has trainable parameters"):
        model.backward(np.ones((2, 3)))


def test_manual_seed_makes_initialisation_reproducible() -> None:
    refnet.manual_seed(123)
    a = mlp(seed=None).state_dict()
    refnet.manual_seed(123)
    b = mlp(seed=None).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_generator_argument_is_reproducible_and_independent_of_the_default() -> None:
    refnet.manual_seed(1)
    a = nn.Linear(5, 5, generator=42).weight.data
    refnet.manual_seed(2)
    b = nn.Linear(5, 5, generator=42).weight.data
    np.testing.assert_array_equal(a, b)


def test_apply_visits_every_module() -> None:
    seen: list[str] = []
    mlp().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]


def test_parameter_requires_float_data_and_has_a_zero_gradient() -> None:
    p = Parameter(np.arange(3.0))
    assert p.grad.shape == (3,) and not p.grad.any()
    assert p.numel() == 3 and p.shape == (3,)
    with pytest.raises(TypeError, match="floating"):
        Parameter(np.arange(3))


def test_load_state_dict_refuses_lossy_casts_and_changes_nothing() -> None:
    """Every value is validated and cast before anything is written (issue: a bad value
    met after earlier keys used to leave those keys overwritten)."""
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    before = model.state_dict()
    for key, bad, why in [
        ("1.weight", np.full(2, 1 + 2j), "imaginary part"),
        ("1.bias", np.full(2, 1e300), "overflow to inf"),
        ("1.num_batches_tracked", np.array(2.7), "not whole numbers"),
        ("1.running_mean", np.array(["a", "b"]), "cannot load values of dtype"),
    ]:
        state = dict(before)
        state["0.weight"] = np.ones((2, 2))  # a good value before the bad one
        state[key] = bad
        with pytest.raises(ValueError, match=rf"{re.escape(key)}: .*{why}"):
            model.load_state_dict(state)
        for name, value in model.state_dict().items():
            np.testing.assert_array_equal(value, before[name], err_msg=name)
    state = dict(before)
    state["1.num_batches_tracked"] = np.array(3.0)  # whole numbers cast fine
    state["0.weight"] = np.full((2, 2), 0.5, dtype=np.float64)
    model.load_state_dict(state)
    assert int(model[1].num_batches_tracked) == 3 and model[0].weight.data.dtype == np.float32


def test_state_dict_rules_for_buffers_strictness_and_shapes() -> None:
    """Issue 20, item 5: rules the suite did not pin down."""

    class WithBuffers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = Parameter(np.zeros((2, 3)))
            self.register_buffer("kept", np.ones(2))
            self.register_buffer("scratch", np.ones(2), persistent=False)

    module = WithBuffers()
    assert sorted(module.state_dict()) == ["kept", "weight"]  # non-persistent: not saved
    assert [name for name, _ in module.named_buffers()] == ["kept", "scratch"]
    state = module.state_dict()
    state["scratch"] = np.zeros(2)  # a non-persistent buffer is not a loadable key
    with pytest.raises(ValueError, match=r"unexpected key\(s\): scratch"):
        module.load_state_dict(state)
    assert module.load_state_dict(state, strict=False).unexpected_keys == ["scratch"]
    np.testing.assert_array_equal(module.scratch, np.ones(2))
    same_size = dict(module.state_dict(), weight=np.ones((3, 2)))  # 6 elements, wrong shape
    with pytest.raises(ValueError, match=r"size mismatch for weight.*\(3, 2\).*\(2, 3\)"):
        module.load_state_dict(same_size)
    with pytest.raises(ValueError, match="size mismatch"):
        module.load_state_dict(same_size, strict=False)  # shapes are never optional
    np.testing.assert_array_equal(module.weight.data, np.zeros((2, 3)))


@pytest.mark.parametrize("device", ["cpu", "cpu:0", "CPU"])
def test_to_the_cpu_changes_nothing_and_keeps_a_dtype(device: str) -> None:
    """``to("cpu")``, ``to("cpu:0", dtype)``: the device part is read before the colon
    (the mutation run: reading the part after it, or no device at all, survived)."""
    module = mlp()
    weights = [p.data for p in module.parameters()]
    assert module.to(device) is module
    assert all(p.data is w for p, w in zip(module.parameters(), weights, strict=True))
    module.to(device, np.float64)
    assert all(p.data.dtype == np.float64 for p in module.parameters())


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "mps"])
def test_to_another_device_is_refused(device: str) -> None:
    with pytest.raises(ValueError, match="NumPy on the CPU"):
        mlp().to(device)


def test_parameter_arithmetic_is_its_arrays() -> None:
    """A Parameter in an expression stands for its array, on either side of every
    operator, and the in-place forms update ``.data`` in place (the mutation run over
    parameter.py: 11 operators could be swapped unnoticed)."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 2, (3, 3)), rng.uniform(1, 2, (3, 3))
    p = Parameter(a.copy())
    binary = [
        lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y, lambda x, y: x / y,
        lambda x, y: x**y, lambda x, y: x @ y,
    ]  # fmt: skip
    for op in binary:
        np.testing.assert_array_equal(op(p, b), op(a, b))
        np.testing.assert_array_equal(op(b, p), op(b, a))
        # A plain Python value on the left is what reaches the reflected methods (an
        # ndarray on the left converts the Parameter itself).
        np.testing.assert_array_equal(op(b.tolist(), p), op(np.asarray(b.tolist()), a))
    for op in binary[:5]:
        np.testing.assert_array_equal(op(1.5, p), op(1.5, a))
    np.testing.assert_array_equal(-p, -a)
    data = p.data
    steps = [(operator.iadd, a + b), (operator.isub, a), (operator.imul, a * b)]
    for step, expected in [*steps, (operator.itruediv, a)]:
        assert step(p, b) is p and p.data is data
        np.testing.assert_allclose(p.data, expected, rtol=1e-15)
