"""Optimizers without torch: the docstring equations by hand, convergence, bookkeeping, errors.

* Steps 1 and 2 of every optimizer equal a direct transcription of the equations in
  its docstring (written here without in-place tricks), for several option sets; a few
  first steps are also checked against numbers worked out by hand.
* Every optimizer decreases a convex quadratic (Hypothesis draws the problem and options).
* The base class: groups, state, state dicts, frozen parameters, dtype changes, repr.
* Every bad input gets a clear error.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.optim as optim
from refnet._typing import Array
from refnet.nn import Parameter
from tests.optim_utils import OPTIMIZERS, json_round_trip

THETA = np.array([0.5, -1.5, 2.0, 0.0])
GRADS = [np.array([0.3, -2.0, 0.0, 1.5]), np.array([-0.7, 0.4, 1.2, 1.5])]

# ---------------------------------------------------------------------------- references
# Each function transcribes its optimizer's docstring and returns θ after each step.


def _signed(g: Array, maximize: bool) -> Array:
    return -g if maximize else g


def ref_sgd(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> list[Array]:
    out, b = [], None
    for g in grads:
        g = _signed(g, maximize) + weight_decay * theta
        if momentum != 0:
            b = g if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
        out.append(theta)
    return out


def ref_adam(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> list[Array]:
    (b1, b2), m, v, v_max, out = betas, 0.0, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize)
        if weight_decay and decoupled_weight_decay:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        v_max = np.maximum(v_max, v)
        second = v_max if amsgrad else v
        theta = theta - lr / (1 - b1**t) * m / (np.sqrt(second) / np.sqrt(1 - b2**t) + eps)
        out.append(theta)
    return out


def ref_adamw(
    theta: Array, grads: list[Array], weight_decay: float = 1e-2, **options: Any
) -> list[Array]:
    return ref_adam(theta, grads, weight_decay=weight_decay, decoupled_weight_decay=True, **options)


def ref_adamax(
    theta: Array,
    grads: list[Array],
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> list[Array]:
    (b1, b2), m, u, out = betas, 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize) + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        theta = theta - lr / (1 - b1**t) * m / u
        out.append(theta)
    return out


def ref_nadam(
    theta: Array,
    grads: list[Array],
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> list[Array]:
    (b1, b2), m, v, product, out = betas, 0.0, 0.0, 1.0, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize)
        if weight_decay and decoupled_weight_decay:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        product = float(np.float32(product) * np.float32(mu))  # PyTorch's float32 Π
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        d = np.sqrt(v / (1 - b2**t)) + eps
        theta = (
            theta
            - lr * (1 - mu) / (1 - product) * g / d
            - lr * mu_next / (1 - product * mu_next) * m / d
        )
        out.append(theta)
    return out


def ref_radam(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> list[Array]:
    (b1, b2), m, v, out = betas, 0.0, 0.0, []
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize)
        if weight_decay and decoupled_weight_decay:
            theta = theta * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho_t > 5:
            r = np.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            l_t = np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
            theta = theta - lr * m_hat * l_t * r
        else:
            theta = theta - lr * m_hat
        out.append(theta)
    return out


def ref_rmsprop(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> list[Array]:
    v, g_avg, b, out = 0.0, 0.0, 0.0, []
    for g in grads:
        g = _signed(g, maximize) + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            d = np.sqrt(v - g_avg**2) + eps
        else:
            d = np.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / d
            theta = theta - lr * b
        else:
            theta = theta - lr * g / d
        out.append(theta)
    return out


def ref_adagrad(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> list[Array]:
    s, out = initial_accumulator_value, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize) + weight_decay * theta
        s = s + g**2
        theta = theta - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        out.append(theta)
    return out


def ref_adadelta(
    theta: Array,
    grads: list[Array],
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> list[Array]:
    v, u, out = 0.0, 0.0, []
    for g in grads:
        g = _signed(g, maximize) + weight_decay * theta
        v = rho * v + (1 - rho) * g**2
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        theta = theta - lr * delta
        out.append(theta)
    return out


def ref_lion(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.99),
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> list[Array]:
    (b1, b2), m, out = betas, 0.0, []
    for g in grads:
        g = _signed(g, maximize)
        c = b1 * m + (1 - b1) * g
        theta = theta - lr * (np.sign(c) + weight_decay * theta)
        m = b2 * m + (1 - b2) * g
        out.append(theta)
    return out


def ref_rprop(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50),
    maximize: bool = False,
) -> list[Array]:
    prev, size, out = np.zeros_like(theta), np.full_like(theta, lr), []
    for g in grads:
        g = _signed(g, maximize)
        s = np.sign(g * prev)
        size = np.clip(size * np.where(s > 0, etas[1], np.where(s < 0, etas[0], 1.0)), *step_sizes)
        g = np.where(s < 0, 0.0, g)
        theta = theta - np.sign(g) * size
        prev = g
        out.append(theta)
    return out


def ref_asgd(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> list[Array]:
    eta, out = lr, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize) + weight_decay * theta
        theta = theta * (1 - lambd * eta) - eta * g
        eta = lr / (1 + lambd * lr * t) ** alpha
        out.append(theta)
    return out


def ref_adafactor(
    theta: Array,
    grads: list[Array],
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> list[Array]:
    """The vector form (THETA is a vector); the factored one is in test_optim_extra.py."""
    eps1 = np.finfo(theta.dtype).eps if eps[0] is None else eps[0]
    v, out = 0.0, []
    for t, g in enumerate(grads, start=1):
        g = _signed(g, maximize)
        alpha = max(eps[1], np.sqrt(np.mean(theta**2))) * min(lr, 1 / np.sqrt(t))
        theta = theta * (1 - lr * weight_decay)
        v = v + t**beta2_decay * (g**2 - v)
        u = g / np.sqrt(np.maximum(v, eps1**2))
        theta = theta - alpha / max(1.0, np.sqrt(np.mean(u**2)) / d) * u
        out.append(theta)
    return out


REFERENCES: dict[str, Callable[..., list[Array]]] = {
    "SGD": ref_sgd,
    "Adam": ref_adam,
    "AdamW": ref_adamw,
    "Adamax": ref_adamax,
    "NAdam": ref_nadam,
    "RAdam": ref_radam,
    "RMSprop": ref_rmsprop,
    "Adagrad": ref_adagrad,
    "Adadelta": ref_adadelta,
    "Lion": ref_lion,
    "Rprop": ref_rprop,
    "ASGD": ref_asgd,
    "Adafactor": ref_adafactor,
}

HAND_CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True, "betas": (0.6, 0.7)}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3}),
    ("Adamax", {"lr": 0.1}),
    ("Adamax", {"lr": 0.1, "betas": (0.3, 0.5), "weight_decay": 0.2, "maximize": True}),
    ("NAdam", {"lr": 0.1}),
    ("NAdam", {"lr": 0.1, "weight_decay": 0.1, "momentum_decay": 0.3}),
    ("NAdam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 0.1}),
    ("RAdam", {"lr": 0.1, "betas": (0.9, 0.1), "weight_decay": 0.1}),  # ρ_∞ ≈ 1.2: never rectified
    ("RAdam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.5, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    (
        "Adagrad",
        {"lr": 0.1, "lr_decay": 0.5, "initial_accumulator_value": 0.2, "weight_decay": 0.1},
    ),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-2, "weight_decay": 0.1, "maximize": True}),
    ("Lion", {"lr": 0.1}),
    ("Lion", {"lr": 0.1, "betas": (0.5, 0.2), "weight_decay": 0.5, "maximize": True}),
    ("Lion", {"lr": 0.1, "weight_decay": 1.0}),
    ("Rprop", {"lr": 0.1}),
    ("Rprop", {"lr": 0.1, "etas": (0.3, 2.0), "step_sizes": (0.05, 0.15), "maximize": True}),
    ("ASGD", {"lr": 0.1}),
    ("ASGD", {"lr": 0.1, "lambd": 0.5, "alpha": 0.5, "weight_decay": 0.2, "maximize": True}),
    ("Adafactor", {}),
    (
        "Adafactor",
        {"lr": 0.5, "beta2_decay": -0.5, "eps": (1e-3, 0.1), "d": 2.0, "weight_decay": 0.1},
    ),
    ("Adafactor", {"lr": 0.1, "maximize": True}),
]


def run_steps(name: str, options: dict[str, Any], grads: list[Array]) -> list[Array]:
    p = Parameter(THETA.copy())
    optimizer = OPTIMIZERS[name]([p], **options)
    out = []
    for g in grads:
        p.grad[...] = g
        optimizer.step()
        out.append(p.data.copy())
    return out


@pytest.mark.parametrize(
    ("name", "options"), HAND_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(HAND_CASES)]
)
def test_first_and_second_steps_follow_the_docstring_equations(
    name: str, options: dict[str, Any]
) -> None:
    expected = REFERENCES[name](THETA.copy(), GRADS, **options)
    actual = run_steps(name, options, GRADS)
    for t, (a, e) in enumerate(zip(actual, expected, strict=True), start=1):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-15, err_msg=f"{name} step {t}")


def test_first_steps_worked_out_by_hand() -> None:
    g = GRADS[0]
    sign = np.sign(g)
    # Adam, Adamax, Adagrad: the first step is lr·g/(|g| + ε) ≈ lr·sign(g).
    for name in ("Adam", "Adamax", "Adagrad"):
        (theta,) = run_steps(name, {"lr": 0.1}, [g])
        np.testing.assert_allclose(theta, THETA - 0.1 * sign, atol=1e-8, err_msg=name)
    # RMSprop: v₁ = (1 − α) g², so the step is lr·sign(g)/√(1 − α) = 10·lr·sign(g).
    (theta,) = run_steps("RMSprop", {"lr": 0.01}, [g])
    np.testing.assert_allclose(theta, THETA - 0.1 * sign, atol=1e-8)
    # RAdam: ρ₁ = 1 ≤ 5, so the first step is SGD on m̂₁ = g.
    (theta,) = run_steps("RAdam", {"lr": 0.1}, [g])
    np.testing.assert_allclose(theta, THETA - 0.1 * g, rtol=1e-15)
    # SGD with momentum: the buffer starts as g itself (no dampening on step 1).
    (theta,) = run_steps("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}, [g])
    np.testing.assert_allclose(theta, THETA - 0.1 * g, rtol=1e-15)
    # Adadelta: Δ₁ = √ε / √((1 − ρ) g² + ε) · g.
    (theta,) = run_steps("Adadelta", {}, [g])
    np.testing.assert_allclose(theta, THETA - np.sqrt(1e-6) * g / np.sqrt(0.1 * g**2 + 1e-6))
    # Lion: exactly lr·sign(g), zero where g = 0.
    (theta,) = run_steps("Lion", {"lr": 0.1}, [g])
    np.testing.assert_array_equal(theta, THETA - 0.1 * sign)


# ---------------------------------------------------------------------------- convergence

CONVEX_LR = {
    "SGD": 0.1,
    "Adam": 0.05,
    "AdamW": 0.05,
    "Adamax": 0.05,
    "NAdam": 0.05,
    "RAdam": 0.05,
    "RMSprop": 0.01,
    "Adagrad": 0.3,
    "Adadelta": 1.0,
    "Lion": 0.01,
    "Rprop": 0.1,
    "ASGD": 0.1,
    "Adafactor": 0.1,
}
FLAGS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "SGD": st.sampled_from(
        [
            {},
            {"momentum": 0.9},
            {"momentum": 0.5, "nesterov": True},
            {"momentum": 0.5, "dampening": 0.5},
        ]
    ),
    "Adam": st.fixed_dictionaries({"amsgrad": st.booleans()}),
    "AdamW": st.fixed_dictionaries({"amsgrad": st.booleans()}),
    "RMSprop": st.fixed_dictionaries(
        {"centered": st.booleans(), "momentum": st.sampled_from([0.0, 0.5])}
    ),
}


@st.composite
def quadratics(draw: st.DrawFn) -> tuple[Array, Array, Array]:
    """``f(θ) = ½ (θ − θ*)ᵀ A (θ − θ*)`` with A's eigenvalues in [0.5, 2], and a start
    at least 1 away from θ* in every coordinate."""
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = q @ np.diag(rng.uniform(0.5, 2.0, n)) @ q.T
    optimum = rng.uniform(-2, 2, n)
    start = optimum + rng.uniform(1, 3, n) * rng.choice([-1.0, 1.0], n)
    return A, optimum, start


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@given(problem=quadratics(), maximize=st.booleans(), data=st.data())
def test_optimizer_decreases_a_convex_quadratic(
    name: str, problem: tuple[Array, Array, Array], maximize: bool, data: st.DataObject
) -> None:
    A, optimum, start = problem
    options = data.draw(FLAGS.get(name, st.just({})), label="options")

    def f(theta: Array) -> float:
        return 0.5 * float((theta - optimum) @ A @ (theta - optimum))

    p = Parameter(start.copy())
    optimizer = OPTIMIZERS[name]([p], lr=CONVEX_LR[name], maximize=maximize, **options)
    for _ in range(100):
        optimizer.zero_grad()
        gradient = A @ (p.data - optimum)
        p.grad += -gradient if maximize else gradient  # maximize: ascend on −f
        optimizer.step()
    assert f(p.data) < 0.95 * f(start), f"{name}{options}: f went {f(start)} -> {f(p.data)}"


# ---------------------------------------------------------------------------- base class


def params(n: int = 3) -> list[Parameter]:
    rng = np.random.default_rng(n)
    return [Parameter(rng.standard_normal((2, 3))) for _ in range(n)]


def fill_grads(ps: list[Parameter], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in ps:
        p.grad[...] = rng.standard_normal(p.shape)


def test_zero_grad_zeroes_in_place_and_step_returns_the_closure_loss() -> None:
    ps = params()
    views = [p.grad for p in ps]
    optimizer = optim.SGD(ps, lr=0.1)
    fill_grads(ps, 0)
    optimizer.zero_grad()
    assert all(p.grad is v and not v.any() for p, v in zip(ps, views, strict=True))

    calls = []

    def closure() -> float:
        calls.append(1)
        fill_grads(ps, 1)
        return 1.25

    before = ps[0].data.copy()
    assert optimizer.step(closure) == 1.25
    assert calls == [1]
    np.testing.assert_allclose(ps[0].data, before - 0.1 * ps[0].grad)
    assert optimizer.step() is None


def test_frozen_parameters_are_skipped_and_get_no_state() -> None:
    ps = params()
    ps[1].requires_grad = False
    frozen = ps[1].data.copy()
    optimizer = optim.Adam(ps, lr=0.1)
    fill_grads(ps, 0)
    optimizer.step()
    np.testing.assert_array_equal(ps[1].data, frozen)
    assert ps[1] not in optimizer.state
    assert set(optimizer.state_dict()["state"]) == {0, 2}


def test_learning_rate_edits_take_effect_at_the_next_step() -> None:
    (p,) = params(1)
    optimizer = optim.SGD([p], lr=0.1)
    p.grad[...] = 1.0
    before = p.data.copy()
    optimizer.param_groups[0]["lr"] = 0.5
    optimizer.step()
    np.testing.assert_allclose(p.data, before - 0.5)


def test_param_groups_take_defaults_and_their_own_options() -> None:
    ps = params()
    optimizer = optim.SGD(
        [{"params": ps[:2]}, {"params": ps[2], "lr": 0.5, "momentum": 0.9}], lr=0.1
    )
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in optimizer.param_groups] == [0, 0.9]
    assert optimizer.param_groups[1]["params"] == [ps[2]]


def test_add_param_group_joins_the_next_step() -> None:
    ps = params()
    optimizer = optim.Adam(ps[:2], lr=0.1)
    optimizer.add_param_group({"params": [ps[2]], "lr": 0.01})
    fill_grads(ps, 0)
    before = ps[2].data.copy()
    optimizer.step()
    np.testing.assert_allclose(ps[2].data, before - 0.01 * np.sign(ps[2].grad), atol=1e-8)
    assert optimizer.param_groups[1]["betas"] == (0.9, 0.999)


def test_named_parameters_keep_their_names_in_the_state_dict() -> None:
    model = nn.Linear(3, 2)
    optimizer = optim.SGD(model.named_parameters(), lr=0.1)
    assert optimizer.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    assert optimizer.param_groups[0]["params"] == list(model.parameters())


def test_state_dict_is_torch_shaped_and_a_copy() -> None:
    ps = params()
    optimizer = optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.01}], lr=0.1)
    fill_grads(ps, 0)
    optimizer.step()
    state = optimizer.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1, 2]]
    assert list(state["state"][0]) == ["step", "exp_avg", "exp_avg_sq"]
    assert state["state"][0]["step"] == 1.0
    saved = state["state"][0]["exp_avg"].copy()
    optimizer.step()
    np.testing.assert_array_equal(state["state"][0]["exp_avg"], saved)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resuming_from_a_state_dict_continues_the_same_trajectory(name: str) -> None:
    ps, qs = params(), params()
    first = OPTIMIZERS[name](ps, lr=0.01)
    for t in range(3):
        fill_grads(ps, t)
        first.step()
    resumed_params = [Parameter(p.data.copy()) for p in ps]
    resumed = OPTIMIZERS[name](resumed_params)
    resumed.load_state_dict(json_round_trip(first.state_dict()))
    assert resumed.param_groups[0]["lr"] == 0.01
    for t in range(3, 6):
        fill_grads(ps, t)
        fill_grads(resumed_params, t)
        first.step()
        resumed.step()
    for p, q in zip(ps, resumed_params, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert qs  # the untouched set is only there to vary the seed


def test_load_state_dict_casts_to_the_parameter_dtype() -> None:
    ps = params()
    optimizer = optim.Adam(ps)
    fill_grads(ps, 0)
    optimizer.step()
    state = optimizer.state_dict()
    float32 = [Parameter(p.data.astype(np.float32)) for p in ps]
    other = optim.Adam(float32)
    other.load_state_dict(state)
    assert other.state[float32[0]]["exp_avg"].dtype == np.float32
    other.step()
    assert float32[0].data.dtype == np.float32


def test_module_to_after_building_the_optimizer_converts_the_state() -> None:
    model = nn.Linear(4, 3)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    x = np.ones((2, 4), dtype=np.float32)
    model(x)
    model.backward(np.ones((2, 3), dtype=np.float32))
    optimizer.step()
    model.double()
    model.zero_grad()
    model(x.astype(np.float64))
    model.backward(np.ones((2, 3)))
    optimizer.step()
    for p in model.parameters():
        assert p.data.dtype == np.float64
        assert all(
            v.dtype == np.float64 for v in optimizer.state[p].values() if isinstance(v, np.ndarray)
        )


def test_adagrad_creates_its_state_when_built_as_pytorch_does() -> None:
    ps = params()
    optimizer = optim.Adagrad(ps, initial_accumulator_value=0.5)
    assert set(optimizer.state_dict()["state"]) == {0, 1, 2}
    np.testing.assert_array_equal(optimizer.state[ps[0]]["sum"], np.full((2, 3), 0.5))


def test_sgd_without_momentum_keeps_no_state() -> None:
    ps = params()
    optimizer = optim.SGD(ps, lr=0.1)
    fill_grads(ps, 0)
    optimizer.step()
    assert optimizer.state_dict()["state"] == {}


def test_repr_lists_each_group_like_pytorch() -> None:
    optimizer = optim.SGD(params(), lr=0.1)
    assert repr(optimizer) == (
        "SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.1\n    maximize: False\n"
        "    momentum: 0\n    nesterov: False\n    weight_decay: 0\n)"
    )


def test_step_never_writes_into_the_gradient() -> None:
    for name, cls in OPTIMIZERS.items():
        ps = params()
        fill_grads(ps, 0)
        grads = [p.grad.copy() for p in ps]
        options = {"momentum": 0.9, "nesterov": True} if name == "SGD" else {}
        if "maximize" in cls([Parameter(np.zeros(1))]).defaults:
            options["maximize"] = True
        optimizer = cls(ps, **options)
        optimizer.step()
        optimizer.step()
        for p, g in zip(ps, grads, strict=True):
            np.testing.assert_array_equal(p.grad, g, err_msg=name)


def test_optimizer_deepcopies() -> None:
    ps = params()
    optimizer = optim.Adam(ps)
    fill_grads(ps, 0)
    optimizer.step()
    clone = copy.deepcopy(optimizer)
    assert clone.state_dict()["state"][0]["step"] == 1.0


# ---------------------------------------------------------------------------- errors

WITH_BETAS = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Lion"]
WITH_EPS = ["Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta"]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_negative_or_nan_learning_rate_is_rejected(name: str) -> None:
    for lr in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="learning rate"):
            OPTIMIZERS[name](params(), lr=lr)
    with pytest.raises(TypeError, match="lr must be a real number"):
        OPTIMIZERS[name](params(), lr="0.1")


@pytest.mark.parametrize("name", WITH_BETAS)
@pytest.mark.parametrize("betas", [(1.0, 0.9), (0.9, 1.0), (-0.1, 0.9), (0.9, -0.5)])
def test_betas_outside_zero_one_are_rejected(name: str, betas: tuple[float, float]) -> None:
    index = 0 if not 0 <= betas[0] < 1 else 1
    with pytest.raises(ValueError, match=f"beta parameter at index {index}"):
        OPTIMIZERS[name](params(), betas=betas)


@pytest.mark.parametrize("name", WITH_BETAS)
def test_betas_must_be_a_pair(name: str) -> None:
    with pytest.raises(TypeError, match="betas must be a pair"):
        OPTIMIZERS[name](params(), betas=(0.9,))


@pytest.mark.parametrize("name", WITH_EPS)
def test_negative_eps_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="epsilon"):
        OPTIMIZERS[name](params(), eps=-1e-8)


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - {"Rprop"}))
def test_negative_weight_decay_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="weight_decay"):
        OPTIMIZERS[name](params(), weight_decay=-0.1)


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("SGD", {"momentum": -0.9}, "momentum"),
        ("RMSprop", {"momentum": -0.9}, "momentum"),
        ("RMSprop", {"alpha": -0.5}, "alpha"),
        ("Adagrad", {"lr_decay": -1.0}, "lr_decay"),
        ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
        ("Adadelta", {"rho": 1.5}, "rho"),
        ("NAdam", {"momentum_decay": -1.0}, "momentum_decay"),
        ("Rprop", {"etas": (1.2, 0.5)}, "eta values"),
        ("Rprop", {"etas": (0.5, 1.0)}, "eta values"),
        ("Rprop", {"etas": (0.0, 1.2)}, "eta values"),
        ("Rprop", {"step_sizes": (1.0, 0.1)}, "step_sizes"),
        ("ASGD", {"lambd": -1.0}, "lambd"),
        ("Adafactor", {"beta2_decay": 0.5}, "beta2_decay"),
        ("Adafactor", {"d": 0.5}, "clipping threshold"),
        ("Adafactor", {"eps": (-1.0, 1e-3)}, "epsilon1"),
        ("Adafactor", {"eps": (None, -1e-3)}, "epsilon2"),
        ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum"),
        ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "zero dampening"),
    ],
)
def test_other_bad_hyperparameters_are_rejected(
    name: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name](params(), **options)


@pytest.mark.parametrize("eps", [(1e-3,), (None, 1e-3, 0.1), [None]])
def test_adafactor_eps_must_be_a_pair(eps: Any) -> None:
    with pytest.raises(TypeError, match="eps must be a pair"):
        optim.Adafactor(params(), eps=eps)


def test_bad_options_in_a_param_group_name_the_group() -> None:
    ps = params()
    with pytest.raises(ValueError, match="param group 1: invalid learning rate"):
        optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": -1.0}])
    optimizer = optim.SGD(ps[:1], lr=0.1)
    with pytest.raises(ValueError, match="param group 1: Nesterov"):
        optimizer.add_param_group({"params": ps[1:], "nesterov": True})


def test_a_parameter_listed_twice_is_an_error() -> None:
    ps = params()
    with pytest.raises(ValueError, match="parameter 2 is the same Parameter as parameter 0"):
        optim.SGD([ps[0], ps[1], ps[0]])
    with pytest.raises(ValueError, match="already appears in param group 0"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}])
    optimizer = optim.SGD(ps[:2])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [ps[0]]})
    assert len(optimizer.param_groups) == 1


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ([np.zeros(3)], TypeError, "can only optimize Parameters, but parameter 0 is a ndarray"),
        ([Parameter(np.zeros(3)), 1.0], TypeError, "parameter 1 is a float"),
        ([], ValueError, "empty parameter list"),
        (Parameter(np.zeros(3)), TypeError, "single Parameter"),
        (5, TypeError, "iterable of Parameters"),
        ([{"params": {Parameter(np.zeros(3))}}], TypeError, "not a set"),
        ([{"lr": 0.1}], ValueError, "no 'params' entry"),
    ],
)
def test_bad_params_argument(bad: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        optim.SGD(bad)


def test_add_param_group_needs_a_dict() -> None:
    optimizer = optim.SGD(params(1))
    with pytest.raises(TypeError, match="must be a dict"):
        optimizer.add_param_group([Parameter(np.zeros(2))])  # type: ignore[arg-type]


def test_load_state_dict_rejects_mismatches_and_changes_nothing() -> None:
    ps = params()
    optimizer = optim.Adam(ps)
    fill_grads(ps, 0)
    optimizer.step()
    good = optimizer.state_dict()

    with pytest.raises(ValueError, match="2 parameter groups, the optimizer has 1"):
        optimizer.load_state_dict({**good, "param_groups": good["param_groups"] * 2})
    group = {**good["param_groups"][0], "params": [0, 1]}
    with pytest.raises(ValueError, match="group 0 has 2 parameters, the optimizer's group 0 has 3"):
        optimizer.load_state_dict({**good, "param_groups": [group]})
    bad_state = copy.deepcopy(good)
    bad_state["state"][1]["exp_avg"] = np.zeros(5)
    bad_state["param_groups"][0]["lr"] = 0.5
    with pytest.raises(ValueError, match=r"'exp_avg' of parameter 1 has shape \(5,\)"):
        optimizer.load_state_dict(bad_state)
    assert optimizer.param_groups[0]["lr"] == 1e-3
    bad_lr = copy.deepcopy(good)
    bad_lr["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match="loaded param group 0: invalid learning rate"):
        optimizer.load_state_dict(bad_lr)
    stray = copy.deepcopy(good)
    stray["state"][7] = {}
    with pytest.raises(ValueError, match="parameter 7, which no param group lists"):
        optimizer.load_state_dict(stray)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        optimizer.load_state_dict({"state": {}})


def test_a_parameter_whose_shape_changed_is_an_error() -> None:
    (p,) = params(1)
    optimizer = optim.Adam([p])
    optimizer.step()
    p.data = np.zeros(4)
    p.grad = np.zeros(4)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of a parameter has shape \(2, 3\)"):
        optimizer.step()


def test_no_warnings_in_a_normal_run() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cls in OPTIMIZERS.values():
            ps = params()
            optimizer = cls(ps)
            fill_grads(ps, 0)
            optimizer.step()


def test_load_state_dict_refuses_another_optimizers_state_and_bad_scalars() -> None:
    """Issue 17, item 5: SGD's state into Adam raised a bare KeyError at step(); a
    non-numeric step a NumPy conversion error. Both are refused at load, naming why."""
    p = Parameter(np.ones(3))
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    adam = optim.Adam([p], lr=0.1)
    with pytest.raises(
        ValueError, match=r"lacks the option\(s\) amsgrad, betas.*another optimizer"
    ):
        adam.load_state_dict(sgd.state_dict())
    p.grad[...] = 1.0
    adam.step()
    state = adam.state_dict()
    state["state"][0]["step"] = "x"
    with pytest.raises(ValueError, match="'step' of parameter 0 must be a number, got 'x'"):
        adam.load_state_dict(state)
    assert adam.state[p]["step"] == 1.0  # unchanged


# Options under which a step reads more state (the mutation run: RMSprop's momentum
# buffer was not required when the test ran only with the defaults).
STATE_OPTIONS = [(name, {}) for name in sorted(OPTIMIZERS)] + [
    ("SGD", {"momentum": 0.9}),
    ("Adam", {"amsgrad": True}),
    ("RMSprop", {"momentum": 0.9, "centered": True}),
]


# Entries a step recreates when they are missing, as torch's does: SGD restarts its
# momentum from the gradient (torch: a state without "momentum_buffer" is a first step).
OPTIONAL_STATE = {"SGD": {"momentum_buffer"}}


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
@pytest.mark.parametrize(("name", "options"), STATE_OPTIONS, ids=str)
def test_load_state_dict_refuses_a_state_missing_an_entry(
    name: str, options: dict[str, Any], shape: tuple[int, ...]
) -> None:
    """Issue 17, item 5: a state without, e.g., Adam's exp_avg_sq was accepted and the next
    step() raised KeyError. Every entry a step reads is now required, at load."""
    p = Parameter(np.ones(shape))
    optimizer = OPTIMIZERS[name]([p], **options)
    p.grad[...] = 1.0
    optimizer.step()
    saved = optimizer.state_dict()
    required = optimizer._required_state_of(optimizer.param_groups[0], p, optimizer.state[p])
    kept = set(saved["state"].get(0, {})) - OPTIONAL_STATE.get(name, set())
    assert required == kept, "every entry a step keeps, it reads"
    for key in sorted(required):
        broken = copy.deepcopy(saved)
        del broken["state"][0][key]
        if not broken["state"][0]:  # nothing left: a fresh state, as before the first step
            continue
        with pytest.raises(ValueError, match=f"state of parameter 0 lacks {key}"):
            optimizer.load_state_dict(broken)
    optimizer.load_state_dict(saved)  # the complete state still loads
    assert required <= set(optimizer.state[p])


def test_infinite_rates_and_sets_of_parameters_are_refused() -> None:
    p = Parameter(np.ones(2))
    for name in OPTIMIZERS:
        with pytest.raises(ValueError, match=r"inf .*finite"):
            getattr(optim, name)([p], lr=float("inf"))
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)


def test_lion_defaults_are_the_papers() -> None:
    """Lion has no torch twin for test_optim_torch's defaults test: the paper's values."""
    defaults = optim.Lion([Parameter(np.zeros(2))]).defaults
    assert defaults == {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0, "maximize": False}


@pytest.mark.parametrize(
    "options",
    [{}, {"lr": 0.01, "betas": (0.95, 0.98), "weight_decay": 0.1}, {"lr": 0.003, "maximize": True}],
)
def test_lion_follows_the_papers_rule_over_a_long_closed_loop_trajectory(
    options: dict[str, Any],
) -> None:
    """Issue 20, item 4: Lion has no torch twin. 300 steps on a quadratic whose gradient
    depends on the current weights (so an error anywhere compounds), against the paper's
    Algorithm 2 written out here independently, element by element."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    A = A @ A.T + np.eye(6)
    b = rng.standard_normal(6)
    lr = options.get("lr", 1e-4)
    beta1, beta2 = options.get("betas", (0.9, 0.99))
    decay, sign = options.get("weight_decay", 0.0), -1.0 if options.get("maximize") else 1.0

    theta_ref, momentum = np.ones(6), np.zeros(6)
    p = Parameter(np.ones(6))
    optimizer = optim.Lion([p], **options)
    for step in range(300):
        grad = A @ theta_ref - b
        for i in range(6):  # the paper's update, one coordinate at a time
            g = sign * grad[i]
            c = beta1 * momentum[i] + (1 - beta1) * g
            update = 1.0 if c > 0 else -1.0 if c < 0 else 0.0
            theta_ref[i] = theta_ref[i] - lr * (update + decay * theta_ref[i])
            momentum[i] = beta2 * momentum[i] + (1 - beta2) * g
        p.grad[...] = A @ p.data - b
        optimizer.step()
        np.testing.assert_allclose(p.data, theta_ref, rtol=1e-12, atol=1e-14, err_msg=f"{step}")


def test_betas_given_as_a_list_become_a_tuple_of_floats() -> None:
    """As torch keeps them (the state dict compares equal to torch's)."""
    optimizer = optim.Adam(params(), betas=[0.8, 0.9])
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.9)
    assert isinstance(optimizer.param_groups[0]["betas"], tuple)


def test_an_empty_state_entry_is_not_saved() -> None:
    """Reading optimizer.state[p] creates an empty entry (a defaultdict, as torch's); the
    state dict leaves it out, as torch's does."""
    ps = params()
    optimizer = optim.SGD(ps, lr=0.1, momentum=0.9)
    assert optimizer.state[ps[1]] == {}
    assert optimizer.state_dict()["state"] == {}
