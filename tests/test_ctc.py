"""CTCLoss beyond the generic properties: the likelihood against a brute-force sum over
every path, the raw log_probs gradient against torch's (every layout, reduction, blank
and zero_infinity), the documented difference between that gradient and the derivative
with respect to log_probs, long inputs (log space), and the refusals."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
from refnet.gradcheck import numerical_gradient
from refnet.nn import functional as F
from tests.cases.ctc import ctc_targets, needed_steps


def _torch() -> Any:
    return pytest.importorskip("torch")


def _collapse(path: tuple[int, ...], blank: int) -> tuple[int, ...]:
    merged = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
    return tuple(c for c in merged if c != blank)


def _brute_force_nll(lp: Any, target: tuple[int, ...], blank: int) -> float:
    """-log Σ over every path of length T that collapses to the target (C^T paths)."""
    T, C = lp.shape
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        if _collapse(path, blank) == target:
            total += float(np.exp(sum(lp[t, c] for t, c in enumerate(path))))
    return -np.log(total) if total > 0 else np.inf


@given(seed=st.integers(0, 2**16), T=st.integers(1, 5), C=st.integers(2, 3), S=st.integers(0, 3))
def test_the_likelihood_is_the_sum_over_every_path(seed: int, T: int, C: int, S: int) -> None:
    rng = np.random.default_rng(seed)
    blank = int(rng.integers(0, C))
    padded, _ = ctc_targets(rng, 1, S, C, blank)
    lp = F.log_softmax(rng.normal(size=(T, C)), dim=1)
    target = tuple(int(c) for c in padded[0])
    ours = nn.CTCLoss(blank, reduction="sum")(lp, padded[0], T, S)
    expected = _brute_force_nll(lp, target, blank)
    if np.isinf(expected):
        assert np.isinf(ours)
    else:
        np.testing.assert_allclose(ours, expected, rtol=1e-12)


def _draw_batch(rng: np.random.Generator, layout: str, normalised: bool) -> dict[str, Any]:
    N = 1 if layout == "unbatched" else int(rng.integers(1, 4))
    C = int(rng.integers(2, 6))
    S = int(rng.integers(1, 4))
    blank = int(rng.integers(0, C))
    padded, tl = ctc_targets(rng, N, S, C, blank)
    T = max(int(rng.integers(1, 7)), int(needed_steps(padded, tl).max()))
    il = rng.integers(0, T + 1, N)  # some inputs too short: infinite losses
    z = rng.normal(scale=2.0, size=(T, N, C))
    lp = F.log_softmax(z, dim=2) if normalised else z
    if layout == "unbatched":
        return {
            "lp": lp[:, 0],
            "targets": padded[0, : tl[0]],
            "il": int(il[0]),
            "tl": int(tl[0]),
            "blank": blank,
        }
    if layout == "concatenated":
        targets = np.concatenate([row[:n] for row, n in zip(padded, tl, strict=True)]).astype(
            np.int64
        )
        return {"lp": lp, "targets": targets, "il": il, "tl": tl, "blank": blank}
    as_tuple = {"il": tuple(int(i) for i in il), "tl": tuple(int(n) for n in tl)}
    return {"lp": lp, "targets": padded, **as_tuple, "blank": blank}  # torch takes tuples too


@pytest.mark.parametrize("layout", ["padded", "concatenated", "unbatched"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@given(seed=st.integers(0, 2**16), normalised=st.booleans())
def test_the_log_probs_gradient_is_torchs(
    layout: str, reduction: str, zero_infinity: bool, seed: int, normalised: bool
) -> None:
    """Values and raw gradients equal torch's, NaN where torch's are (an infinite loss
    without zero_infinity), for log_probs that are log-softmax outputs or not."""
    torch = _torch()
    rng = np.random.default_rng(seed)
    b = _draw_batch(rng, layout, normalised)
    loss = nn.CTCLoss(b["blank"], reduction, zero_infinity)
    value = loss(b["lp"], b["targets"], b["il"], b["tl"])
    G = rng.normal(size=np.shape(value)) if reduction == "none" else None
    grad = loss.backward(G) if G is not None else loss.backward()

    t = torch.from_numpy(b["lp"].copy()).requires_grad_()
    lengths = [torch.tensor(v) if not isinstance(v, tuple) else v for v in (b["il"], b["tl"])]
    theirs = torch.nn.functional.ctc_loss(
        t, torch.from_numpy(b["targets"]), *lengths, b["blank"], reduction, zero_infinity
    )
    theirs.backward(torch.from_numpy(G) if G is not None else None)
    np.testing.assert_allclose(value, theirs.detach().numpy(), rtol=1e-11, equal_nan=True)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-9, atol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(t.grad.numpy()))
    np.testing.assert_allclose(
        F.ctc_loss_backward(
            1.0 if G is None else G,
            b["lp"],
            b["targets"],
            b["il"],
            b["tl"],
            b["blank"],
            reduction,
            zero_infinity,
        ),
        grad,
        rtol=1e-14,
        equal_nan=True,
    )


def test_the_gradient_is_the_derivative_plus_exp_log_probs() -> None:
    """What the docstrings say: torch's (and refnet's) gradient minus exp(log_probs),
    inside each input length, is the numerical derivative with respect to log_probs."""
    rng = np.random.default_rng(7)
    T, N, C = 5, 2, 4
    lp = rng.normal(size=(T, N, C))  # not normalised: the identity holds for any values
    targets, il, tl = np.array([[1, 2], [3, 3]]), np.array([5, 4]), np.array([2, 2])
    loss = nn.CTCLoss(reduction="sum")
    loss(lp, targets, il, tl)
    grad = loss.backward()
    numerical = numerical_gradient(lambda: float(loss(lp, targets, il, tl)), lp, 1e-6)
    inside = (np.arange(T)[:, None] < il)[:, :, None]
    np.testing.assert_allclose(grad - np.exp(lp) * inside, numerical, rtol=1e-6, atol=1e-8)


def test_long_inputs_stay_finite_in_log_space() -> None:
    """2000 steps of probabilities near 1/20: the likelihood is about e^-4700, far below
    float64's smallest number (about e^-745), yet its log and the gradient are exact."""
    torch = _torch()
    rng = np.random.default_rng(8)
    T, C = 2000, 20
    lp = F.log_softmax(rng.normal(scale=0.1, size=(T, 1, C)), dim=2)
    targets = rng.integers(1, C, (1, 300))
    loss = nn.CTCLoss(reduction="sum")
    value = loss(lp, targets, [T], [300])
    assert np.isfinite(value) and value > 745  # p(y | x) underflows outside log space
    grad = loss.backward()
    t = torch.from_numpy(lp.copy()).requires_grad_()
    theirs = torch.nn.functional.ctc_loss(t, torch.from_numpy(targets), [T], [300], reduction="sum")
    theirs.backward()
    np.testing.assert_allclose(value, theirs.item(), rtol=1e-10)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_zero_infinity_zeroes_an_impossible_sample_only() -> None:
    rng = np.random.default_rng(9)
    lp = F.log_softmax(rng.normal(size=(3, 2, 4)), dim=2)
    targets = np.array([[1, 1, 1], [2, 0, 0]])  # the first needs 5 steps, has 3
    loss = nn.CTCLoss(reduction="none", zero_infinity=True)
    value = loss(lp, targets, [3, 3], [3, 1])
    assert value[0] == 0 and np.isfinite(value[1]) and value[1] > 0
    grad = loss.backward(np.ones(2))
    assert np.all(grad[:, 0] == 0) and np.any(grad[:, 1] != 0)
    plain = nn.CTCLoss(reduction="none")
    assert np.isinf(plain(lp, targets, [3, 3], [3, 1])[0])
    assert np.all(np.isnan(plain.backward(np.ones(2))[:, 0]))


def test_empty_targets_match_torch() -> None:
    """Padded targets with no column (S = 0): every loss is -Σ_t log y_t(blank)."""
    torch = _torch()
    rng = np.random.default_rng(11)
    lp = F.log_softmax(rng.normal(size=(3, 2, 3)), dim=2)
    targets = np.zeros((2, 0), dtype=np.int64)
    loss = nn.CTCLoss(reduction="sum")
    value = loss(lp, targets, [3, 2], [0, 0])
    grad = loss.backward()
    t = torch.from_numpy(lp.copy()).requires_grad_()
    theirs = torch.nn.functional.ctc_loss(
        t, torch.from_numpy(targets), (3, 2), (0, 0), reduction="sum"
    )
    theirs.backward()
    np.testing.assert_allclose(value, -lp[:3, 0, 0].sum() - lp[:2, 1, 0].sum(), rtol=1e-13)
    np.testing.assert_allclose(value, theirs.item(), rtol=1e-13)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_mean_divides_by_the_target_lengths_then_averages() -> None:
    rng = np.random.default_rng(10)
    lp = F.log_softmax(rng.normal(size=(6, 3, 4)), dim=2)
    targets, il, tl = rng.integers(1, 4, (3, 3)), [6, 5, 6], np.array([3, 0, 2])
    each = nn.CTCLoss(reduction="none")(lp, targets, il, tl)
    mean = nn.CTCLoss()(lp, targets, il, tl)
    np.testing.assert_allclose(mean, np.mean(each / np.maximum(tl, 1)), rtol=1e-14)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": np.array([[1, 0], [2, 3]])}, "blank"),
        ({"targets": np.array([[1, 4], [2, 3]])}, "out of range"),
        ({"il": [4, 5]}, "at most T"),
        ({"tl": [3, 1]}, "at most S"),
        ({"tl": [2]}, "shape"),
        ({"il": [2.0, 3.0]}, "integers"),
        ({"targets": np.array([1, 2, 3, 1])}, "sum"),
        ({"targets": np.array([[1.0, 2.0], [2.0, 3.0]])}, "class indices"),
        ({"lp": np.zeros((4, 2, 4, 1))}, "shape"),
        ({"blank": 4}, "blank"),
        ({"lp": np.zeros((0, 2, 4)), "il": [0, 0]}, "empty"),
    ],
)
def test_bad_calls_are_refused_clearly(change: dict[str, Any], message: str) -> None:
    call = {
        "lp": np.zeros((4, 2, 4)),
        "targets": np.array([[1, 2], [2, 3]]),
        "il": [4, 3],
        "tl": [2, 1],
        "blank": 0,
        **change,
    }
    loss = nn.CTCLoss(call["blank"])
    with pytest.raises((TypeError, ValueError), match=message) as error:
        loss(call["lp"], call["targets"], call["il"], call["tl"])
    assert "CTCLoss(" in str(error.value)
