"""Optimizer trajectories equal PyTorch's (float64, rtol 1e-10), across a state-dict reload.

For each optimizer and option set, refnet and torch start from the same parameters and
receive the same 50 gradients. refnet stops after 25 steps, saves its state dict, sends
it through a file (or JSON), loads it into a *fresh* optimizer built with default options
and fresh parameters, and finishes. Parameters are compared after every step; at the
end the state dicts are compared too (same keys and values). Skipped without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.optim as optim
from refnet._typing import Array
from refnet.nn import Parameter
from tests.optim_utils import (
    OPTIMIZERS,
    file_round_trip,
    gradient_sequence,
    initial_values,
    json_round_trip,
)

torch = pytest.importorskip("torch", reason="torch is not installed: agreement tests skipped")
from tests.torch_utils import assert_close  # noqa: E402

RTOL = 1e-10
STEPS = 50

# Option sets that switch every code path on at least once.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "nesterov": True, "weight_decay": 0.2, "maximize": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.3, "maximize": True}),
    # A decay of exactly 1 (the mutation run: the 'weight_decay == 0' guards survived).
    ("SGD", {"lr": 0.05, "weight_decay": 1.0, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True}),
    ("Adam", {"lr": 0.02, "betas": (0.3, 0.9), "eps": 1e-3, "maximize": True}),
    ("Adam", {"lr": 0.02, "betas": (0.0, 0.0), "weight_decay": 0.05, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.2, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 1.0}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.05, "betas": (0.6, 0.5), "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.05, "eps": 0.1, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "momentum_decay": 0.1}),
    ("NAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-4}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    # ρ_7 is exactly 5.0 in floating point for this β₂: the boundary of the rectified step
    # (torch's "ρ_t > 5"; found by the mutation run, where ">= 5" survived).
    ("RAdam", {"lr": 0.05, "betas": (0.9, 0.7678067796924252)}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.5, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "eps": 1e-3, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1}),
    ("Adadelta", {"rho": 0.99, "eps": 1e-3, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.1, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.1, "alpha": 0.5, "t0": 10, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.05, "t0": 0, "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.1, "beta2_decay": -0.5, "eps": (1e-4, 1e-2), "d": 1.5}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 1.0}),  # the "weight_decay != 0" guard
]


def torch_optimizer(name: str, params: list[Any], options: dict[str, Any]) -> Any:
    return getattr(torch.optim, name)(params, foreach=False, **options)


@pytest.fixture(autouse=True)
def float64_scalars(request: pytest.FixtureRequest) -> Any:
    """torch keeps ASGD's eta and mu as tensors of its default dtype: float64 for ASGD's
    tests, so its float64 trajectories compare PyTorch's arithmetic, not a float32
    rounding of eta. (NAdam's float32 mu_product, which refnet reproduces, stays.)"""
    previous = torch.get_default_dtype()
    if "asgd" in request.node.name.lower():
        torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def run_and_compare(
    name: str,
    options: dict[str, Any],
    seed: int,
    groups: Callable[[list[Any]], Any] = list,
    round_trip: Callable[[dict[str, Any]], Any] = json_round_trip,
) -> None:
    """Run refnet and torch side by side for STEPS steps with a reload in the middle."""
    cls = OPTIMIZERS[name]
    start = initial_values(seed)
    grads = gradient_sequence(STEPS, seed)

    ours = [Parameter(v.copy()) for v in start]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in start]
    optimizer = cls(groups(ours), **options)
    reference = torch_optimizer(name, groups(theirs), options)

    for t in range(STEPS):
        if t == STEPS // 2:
            saved = round_trip(optimizer.state_dict())
            ours = [Parameter(p.data.copy()) for p in ours]
            optimizer = cls(groups(ours))  # default options: the state dict restores them
            optimizer.load_state_dict(saved)
        for p, g in zip(ours, grads[t], strict=True):
            p.grad[...] = g
        for p, g in zip(theirs, grads[t], strict=True):
            p.grad = torch.from_numpy(g.copy())
        optimizer.step()
        reference.step()
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(
                p.data, q.detach().numpy(), RTOL, f"{name}{options}: step {t + 1}, param {i}"
            )

    compare_state_dicts(optimizer.state_dict(), reference.state_dict(), f"{name}{options}")


def compare_state_dicts(ours: dict[str, Any], theirs: dict[str, Any], what: str) -> None:
    assert set(ours["state"]) == set(theirs["state"]), f"{what}: state indices"
    for index, state in ours["state"].items():
        reference = theirs["state"][index]
        assert set(state) == set(reference), f"{what}: state keys of parameter {index}"
        for key, value in state.items():
            expected = reference[key].numpy() if torch.is_tensor(reference[key]) else reference[key]
            if isinstance(value, np.ndarray):
                assert_close(value, expected, RTOL, f"{what}: state {key} of parameter {index}")
            else:
                assert value == float(expected), f"{what}: state {key} of parameter {index}"
    for group, reference in zip(ours["param_groups"], theirs["param_groups"], strict=True):
        for key, value in group.items():
            assert key in reference, f"{what}: param group key {key!r} is not PyTorch's"
            assert value == reference[key], f"{what}: param group {key}"


@pytest.mark.parametrize(
    ("name", "options"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
def test_trajectory_matches_torch(name: str, options: dict[str, Any]) -> None:
    run_and_compare(name, options, seed=len(str(options)))


def two_groups(params: list[Any]) -> list[dict[str, Any]]:
    return [{"params": params[:1], "lr": 0.003}, {"params": params[1:]}]


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "Lion"])
def test_trajectory_with_two_groups_through_a_file(name: str) -> None:
    """Per-group options, and the mid-run state dict saved with refnet.save."""
    options = {"lr": 0.02} | ({} if name == "Rprop" else {"weight_decay": 0.01})
    run_and_compare(name, options, 7, two_groups, file_round_trip)


def betas() -> st.SearchStrategy[tuple[float, float]]:
    """β₁ anywhere in [0, 0.99]; β₂ ≥ 0.5. With β₂ near 0 and L2 weight decay the
    denominator is |g + λθ|, a cancellation that amplifies rounding differences
    exponentially over the steps (a property of the dynamics, not of either code; the
    fixed cases above cover β = (0, 0) where it stays well conditioned)."""
    return st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.999))


OPTION_STRATEGIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "SGD": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "momentum": st.sampled_from([0.0, 0.5, 0.9]),
            "weight_decay": st.floats(0.0, 0.5),
            "maximize": st.booleans(),
        }
    ).flatmap(
        lambda o: (
            st.just(o | {"nesterov": True})
            if o["momentum"] > 0
            else st.just(o | {"dampening": 0.5})
        )
    ),
    "Adam": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "betas": betas(),
            "eps": st.sampled_from([1e-8, 1e-3]),
            "weight_decay": st.floats(0.0, 0.5),
            "amsgrad": st.booleans(),
            "maximize": st.booleans(),
            "decoupled_weight_decay": st.booleans(),
        }
    ),
    "AdamW": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "betas": betas(),
            "weight_decay": st.floats(0.0, 0.5),
            "amsgrad": st.booleans(),
        }
    ),
    "Adamax": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "betas": betas(),
            "weight_decay": st.floats(0.0, 0.5),
            "maximize": st.booleans(),
        }
    ),
    "NAdam": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "betas": betas(),
            "weight_decay": st.floats(0.0, 0.5),
            "momentum_decay": st.floats(0.0, 0.5),
            "decoupled_weight_decay": st.booleans(),
        }
    ),
    "RAdam": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "betas": betas(),
            "weight_decay": st.floats(0.0, 0.5),
            "decoupled_weight_decay": st.booleans(),
        }
    ),
    "RMSprop": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.1),
            "alpha": st.floats(0.1, 0.99),
            "momentum": st.sampled_from([0.0, 0.9]),
            "centered": st.booleans(),
            "weight_decay": st.floats(0.0, 0.5),
        }
    ),
    "Adagrad": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "lr_decay": st.floats(0.0, 0.5),
            "initial_accumulator_value": st.floats(0.0, 1.0),
            "weight_decay": st.floats(0.0, 0.5),
        }
    ),
    "Adadelta": st.fixed_dictionaries(
        {
            "lr": st.floats(0.1, 1.0),
            "rho": st.floats(0.0, 1.0),
            "eps": st.sampled_from([1e-6, 1e-3]),
            "weight_decay": st.floats(0.0, 0.5),
        }
    ),
    "Rprop": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "etas": st.tuples(st.floats(0.1, 0.9), st.floats(1.1, 3.0)),
            "step_sizes": st.tuples(st.floats(0.0, 1e-2), st.floats(0.1, 10.0)),
            "maximize": st.booleans(),
        }
    ),
    "ASGD": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.3),
            "lambd": st.floats(0.0, 0.5),
            "alpha": st.floats(0.1, 1.0),
            "t0": st.sampled_from([0.0, 5.0, 1e6]),
            "weight_decay": st.floats(0.0, 0.5),
        }
    ),
    "Adafactor": st.fixed_dictionaries(
        {
            "lr": st.floats(1e-3, 0.5),
            "beta2_decay": st.floats(-1.0, 0.0),
            "eps": st.tuples(st.sampled_from([None, 1e-30, 1e-4]), st.floats(1e-4, 0.1)),
            "d": st.floats(1.0, 3.0),
            "weight_decay": st.floats(0.0, 0.5),
            "maximize": st.booleans(),
        }
    ),
}


@pytest.mark.parametrize("name", sorted(OPTION_STRATEGIES))
@given(data=st.data())
def test_trajectory_matches_torch_for_drawn_options(name: str, data: st.DataObject) -> None:
    options = data.draw(OPTION_STRATEGIES[name], label="options")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    run_and_compare(name, options, seed)


def test_refnet_loads_a_torch_state_dict_and_continues() -> None:
    """A PyTorch Adam state dict (tensors and all) loads into refnet's Adam."""
    start, grads = initial_values(3), gradient_sequence(20, 3)
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in start]
    reference = torch.optim.Adam(theirs, lr=0.05, amsgrad=True, foreach=False)

    def torch_step(t: int) -> None:
        for p, g in zip(theirs, grads[t], strict=True):
            p.grad = torch.from_numpy(g.copy())
        reference.step()

    for t in range(10):
        torch_step(t)
    ours = [Parameter(p.detach().numpy().copy()) for p in theirs]
    optimizer = optim.Adam(ours)
    optimizer.load_state_dict(reference.state_dict())
    for t in range(10, 20):
        torch_step(t)
        for p, g in zip(ours, grads[t], strict=True):
            p.grad[...] = g
        optimizer.step()
    for p, q in zip(ours, theirs, strict=True):
        assert_close(p.data, q.detach().numpy(), RTOL, "Adam continued from torch's state")


def float32_trajectories(name: str) -> tuple[list[Array], list[Array]]:
    start, grads = initial_values(5, np.float32), gradient_sequence(STEPS, 5, np.float32)
    ours = [Parameter(v.copy()) for v in start]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in start]
    optimizer = OPTIMIZERS[name](ours, lr=0.01)
    reference = torch_optimizer(name, theirs, {"lr": 0.01})
    for t in range(STEPS):
        for p, q, g in zip(ours, theirs, grads[t], strict=True):
            p.grad[...] = g
            q.grad = torch.from_numpy(g.copy())
        optimizer.step()
        reference.step()
    return [p.data for p in ours], [q.detach().numpy() for q in theirs]


@pytest.mark.parametrize("name", [n for n in OPTIMIZERS if n != "Lion"])
def test_float32_trajectory_stays_float32_and_close_to_torch(name: str) -> None:
    ours, theirs = float32_trajectories(name)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.dtype == np.float32, f"{name}: param {i} became {a.dtype}"
        assert_close(a, b, 1e-4, f"{name} float32: param {i}")


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value


@pytest.mark.parametrize("name", [*(n for n in OPTIMIZERS if n != "Lion"), "Muon", "LBFGS"])
def test_default_options_are_torchs(name: str) -> None:
    """Issue 20: each optimizer built with only its parameters has torch's options (a
    wrong default lr agrees with itself in every test that passes the lr)."""
    cls = getattr(optim, name)
    ours = cls([Parameter(np.zeros((2, 2)))]).defaults
    theirs = getattr(torch.optim, name)([torch.zeros((2, 2), requires_grad=True)]).defaults
    assert set(ours) <= set(theirs), f"{name}: options torch does not have"
    for key, value in ours.items():
        assert _plain(value) == _plain(theirs[key]), f"{name}: default {key}"


def test_asgd_state_after_one_step_is_torchs() -> None:
    """The average starts as the parameter itself (μ₀ = 1): after one step ax = θ₁. The
    50-step comparison cannot see μ₀ (from the second step on μ = 1 anyway)."""
    start, grads = initial_values(9), gradient_sequence(1, 9)
    ours = [Parameter(v.copy()) for v in start]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in start]
    optimizer, reference = optim.ASGD(ours), torch_optimizer("ASGD", theirs, {})
    for p, q, g in zip(ours, theirs, grads[0], strict=True):
        p.grad[...] = g
        q.grad = torch.from_numpy(g.copy())
    optimizer.step()
    reference.step()
    compare_state_dicts(optimizer.state_dict(), reference.state_dict(), "ASGD after one step")
    for p in ours:
        np.testing.assert_array_equal(optimizer.state[p]["ax"], p.data)
