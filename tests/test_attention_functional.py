"""Scaled dot-product attention (refnet.nn.functional.attention).

Three oracles: the plain row-by-row references beside the kernel (forward and backward), float64
central differences of Q, K and V (also through the returned weights' gradient), and
torch's ``F.scaled_dot_product_attention`` (outputs and gradients at rtol 1e-9).
Hypothesis draws the leading shape, lengths, feature sizes, the mask kind, causal and
the scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn.functional as F
from refnet._typing import Array
from refnet.gradcheck import compare, numerical_gradient
from refnet.nn.functional import attention as A

MASKS = ["none", "bool", "float", "causal", "bool_full_rows"]


LEADS = [(), (2,), (2, 3), (1, 2)]


def problem(
    lead: tuple[int, ...], sizes: tuple[int, int, int, int], kind: str, scale: float | None,
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    """One attention problem: leading dimensions, (L, S, E, Ev), a mask kind, a scale."""
    L, S, E, Ev = sizes
    rng = np.random.default_rng(seed)
    mask: Array | None = None
    if kind == "bool":
        mask = rng.random((L, S)) < 0.7
        mask[:, 0] = True  # every row keeps a key
    elif kind == "bool_full_rows":
        mask = rng.random((*lead, L, S)) < 0.6
        mask[..., 0, :] = False  # the first query sees nothing
    elif kind == "float":
        mask = rng.normal(size=(L, S))
    return {
        "query": rng.normal(size=(*lead, L, E)),
        "key": rng.normal(size=(*lead, S, E)),
        "value": rng.normal(size=(*lead, S, Ev)),
        "attn_mask": mask,
        "is_causal": kind == "causal",
        "scale": scale,
        "G": rng.normal(size=(*lead, L, Ev)),
        "GW": rng.normal(size=(*lead, L, S)),
    }


@st.composite
def problems(draw: st.DrawFn) -> dict[str, Any]:
    lead = draw(st.sampled_from(LEADS))
    sizes = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    sizes += (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    seed = draw(st.integers(0, 2**16))
    kind = draw(st.sampled_from(MASKS))
    scale = draw(st.sampled_from([None, 0.3, 1.7]))
    return problem(lead, sizes, kind, scale, seed)


def _forward(p: dict[str, Any]) -> tuple[Array, A.AttentionCache]:
    return A.scaled_dot_product_attention_forward(
        p["query"],
        p["key"],
        p["value"],
        p["attn_mask"],
        is_causal=p["is_causal"],
        scale=p["scale"],
    )


def _assert_forward_matches_the_reference(p: dict[str, Any]) -> None:
    out, _ = _forward(p)
    ref = A.scaled_dot_product_attention_reference(
        p["query"], p["key"], p["value"], p["attn_mask"], p["is_causal"], p["scale"]
    )
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def _assert_backward_matches_the_reference(
    p: dict[str, Any], weights: Array | None, atol: float = 1e-12
) -> None:
    _out, cache = _forward(p)
    grads = A.scaled_dot_product_attention_backward(
        p["G"], p["query"], p["key"], p["value"], cache, weights
    )
    expected = A.scaled_dot_product_attention_backward_reference(
        p["G"], p["query"], p["key"], p["value"], p["attn_mask"], p["is_causal"], p["scale"],
        weights,
    )  # fmt: skip
    for name, got, want in zip(("query", "key", "value"), grads, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=atol, err_msg=name)


@given(problems())
def test_matches_reference(p: dict[str, Any]) -> None:
    _assert_forward_matches_the_reference(p)


@given(problems(), st.booleans())
def test_backward_matches_the_reference(p: dict[str, Any], with_weights: bool) -> None:
    _assert_backward_matches_the_reference(p, p["GW"] if with_weights else None)


@pytest.mark.parametrize("lead", LEADS, ids=str)
@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("scale", [None, 1.7])
def test_kernels_match_the_references_over_every_layout_and_mask(
    lead: tuple[int, ...], kind: str, scale: float | None
) -> None:
    """The grid the properties sample from, every point once (Hypothesis's few examples
    per run can miss a combination): forward and backward, weights' gradient included.
    The scores reach the hundreds, where a softmax without its max shift overflows."""
    p = problem(lead, (3, 4, 3, 2), kind, scale, seed=len(lead) + MASKS.index(kind))
    p["query"] = 300 * p["query"]
    _assert_forward_matches_the_reference(p)
    _assert_backward_matches_the_reference(p, p["GW"], atol=1e-10)


@given(problems(), st.booleans())
def test_numerical_gradients(p: dict[str, Any], with_weights: bool) -> None:
    """L = Σ O·G (+ Σ P·GW): the weights' gradient enters through grad_weights."""

    def loss() -> Array:
        out, cache = _forward(p)
        terms = [np.ravel(out * p["G"])]
        if with_weights:
            terms.append(np.ravel(cache.dropped * p["GW"]))
        return np.concatenate(terms)

    _out, cache = _forward(p)
    grads = A.scaled_dot_product_attention_backward(
        p["G"], p["query"], p["key"], p["value"], cache, p["GW"] if with_weights else None
    )
    for name, analytic in zip(("query", "key", "value"), grads, strict=True):
        _check(name, analytic, numerical_gradient(loss, p[name]))


def _check(name: str, analytic: Array, numerical: Array) -> None:
    report = compare(name, analytic, numerical, rtol=1e-6, atol=1e-9)
    assert not report.mismatches, report


@pytest.mark.parametrize(
    ("key_shape", "value_shape"),
    [((1, 3, 5, 2), (3, 5, 2)), ((2, 1, 5, 2), (1, 1, 5, 2))],
    ids=["first-axis", "second-axis"],
)
def test_broadcast_leading_dimensions_gradients(
    key_shape: tuple[int, ...], value_shape: tuple[int, ...]
) -> None:
    """Keys and values broadcast over the query's (2, 3) leading axes, missing or of
    size 1 in either: their gradients are summed back over the axes they were spread on."""
    rng = np.random.default_rng(0)
    q, k, v = (
        rng.normal(size=(2, 3, 4, 2)),
        rng.normal(size=key_shape),
        rng.normal(size=value_shape),
    )
    G = rng.normal(size=(2, 3, 4, 2))
    _out, cache = A.scaled_dot_product_attention_forward(q, k, v)
    grads = A.scaled_dot_product_attention_backward(G, q, k, v, cache)
    for x, g in zip((q, k, v), grads, strict=True):
        num = numerical_gradient(
            lambda: np.ravel(A.scaled_dot_product_attention_forward(q, k, v)[0] * G), x
        )
        _check("x", g, num)


def test_dropout_is_seeded_and_gradients_hold() -> None:
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 2))
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=7)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=7)
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    G = rng.normal(size=(2, 4, 2))

    def loss() -> Array:
        out, _ = A.scaled_dot_product_attention_forward(q, k, v, dropout_p=0.5, generator=7)
        return np.ravel(out * G)

    _, cache = A.scaled_dot_product_attention_forward(q, k, v, dropout_p=0.5, generator=7)
    assert cache.noise is not None and (cache.noise == 0).any()
    grads = A.scaled_dot_product_attention_backward(G, q, k, v, cache)
    for x, g in zip((q, k, v), grads, strict=True):
        _check("x", g, numerical_gradient(loss, x))


def test_a_mask_that_would_enlarge_the_scores_is_refused_as_by_torch() -> None:
    """A mask may broadcast over the scores (..., L, S), not add leading dimensions."""
    torch = pytest.importorskip("torch")
    q, k, v = np.zeros((3, 4)), np.zeros((5, 4)), np.zeros((5, 3))
    mask = np.ones((2, 3, 5), dtype=bool)
    with pytest.raises(RuntimeError):
        torch.nn.functional.scaled_dot_product_attention(
            *(torch.from_numpy(a) for a in (q, k, v)), attn_mask=torch.from_numpy(mask)
        )
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 3, 5\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def test_no_dropout_draws_no_random_numbers() -> None:
    """``dropout_p=0`` leaves the generator where it was (a seeded run's later draws stay)."""
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3))
    generator = np.random.default_rng(7)
    F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, generator=generator)
    assert generator.random() == np.random.default_rng(7).random()


@pytest.mark.parametrize("scale", [None, 0.3])
def test_the_backward_reference_takes_the_same_default_scale(scale: float | None) -> None:
    """1/√E when no scale is given, in the row-by-row backward as in the kernel (E = 3)."""
    rng = np.random.default_rng(5)
    q, k, v = rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    G = rng.normal(size=(2, 2))
    _out, cache = A.scaled_dot_product_attention_forward(q, k, v, scale=scale)
    fast = A.scaled_dot_product_attention_backward(G, q, k, v, cache)
    slow = A.scaled_dot_product_attention_backward_reference(G, q, k, v, scale=scale)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_dropout_of_every_weight_gives_zeros_and_zero_gradients() -> None:
    """``dropout_p=1``: every weight dropped, the output and all gradients 0 (no 0/0)."""
    rng = np.random.default_rng(2)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 3))
    with np.errstate(all="raise"):
        out, cache = A.scaled_dot_product_attention_forward(q, k, v, dropout_p=1.0, generator=0)
        grads = A.scaled_dot_product_attention_backward(np.ones_like(out), q, k, v, cache)
    np.testing.assert_array_equal(out, 0.0)
    for grad in grads:
        np.testing.assert_array_equal(grad, 0.0)


def test_large_scores_stay_finite() -> None:
    rng = np.random.default_rng(2)
    q = rng.normal(size=(2, 3, 4)) * 1e2
    k = rng.normal(size=(2, 5, 4)) * 1e2  # scores of order 1e4
    v = rng.normal(size=(2, 5, 3))
    for dtype in (np.float32, np.float64):
        out, cache = A.scaled_dot_product_attention_forward(
            q.astype(dtype), k.astype(dtype), v.astype(dtype)
        )
        grads = A.scaled_dot_product_attention_backward(
            np.ones_like(out), q.astype(dtype), k.astype(dtype), v.astype(dtype), cache
        )
        assert out.dtype == dtype and np.isfinite(out).all()
        assert all(np.isfinite(g).all() and g.dtype == dtype for g in grads)


def test_causal_mask_is_cached_and_top_left() -> None:
    assert A.causal_blocked(3, 5) is A.causal_blocked(3, 5)
    assert not A.causal_blocked(3, 5).flags.writeable
    np.testing.assert_array_equal(
        A.causal_blocked(2, 3), [[False, True, True], [False, False, True]]
    )


def test_fully_masked_rows_modes() -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(2, 3))
    scores[0] = -np.inf
    zero = A.masked_softmax(scores.copy(), "zero")
    nan = A.masked_softmax(scores.copy(), "nan")
    np.testing.assert_array_equal(zero[0], 0.0)
    assert np.isnan(nan[0]).all()
    np.testing.assert_allclose(zero[1].sum(), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": np.zeros((2, 4, 2))}, ValueError, "same E"),
        ({"value": np.zeros((2, 6, 3))}, ValueError, "same length S"),
        ({"attn_mask": np.zeros((3, 4), dtype=np.float32)}, TypeError, "dtype"),
        ({"attn_mask": np.ones((2, 4), dtype=bool)}, ValueError, "broadcast"),
        ({"attn_mask": np.ones((3, 5), dtype=bool), "is_causal": True}, ValueError, "not both"),
        ({"query": np.zeros(3)}, ValueError, "length, features"),
        ({"attn_mask": np.ones((3, 2, 3, 5), dtype=bool)}, ValueError, "broadcast"),
        ({"query": np.zeros((2, 3, 4), dtype=np.float32)}, TypeError, "share one floating"),
        (dict.fromkeys(("query", "key", "value"), np.zeros((2, 5, 4), int)), TypeError, "floating"),
    ],
)
def test_clear_errors(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    args: dict[str, Any] = {
        "query": np.zeros((2, 3, 4)),
        "key": np.zeros((2, 5, 4)),
        "value": np.zeros((2, 5, 3)),
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        F.scaled_dot_product_attention(**args)


# ---------------------------------------------------------------------- torch agreement


@given(problems())
def test_matches_torch(p: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    tq, tk, tv = (torch.tensor(p[n], requires_grad=True) for n in ("query", "key", "value"))
    mask = None if p["attn_mask"] is None else torch.tensor(p["attn_mask"])
    expected = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, attn_mask=mask, is_causal=p["is_causal"], scale=p["scale"]
    )
    expected.backward(torch.tensor(p["G"]))
    out, cache = _forward(p)
    grads = A.scaled_dot_product_attention_backward(p["G"], p["query"], p["key"], p["value"], cache)
    _close(out, expected.detach().numpy())
    for g, t in zip(grads, (tq, tk, tv), strict=True):
        assert t.grad is not None
        _close(g, t.grad.numpy())


def _close(actual: Array, expected: Array) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    scale = float(np.nanmax(np.abs(expected), initial=0.0))
    # + 1e-13: where the exact gradient is 0 (a query with one key it can see), torch's
    # rounding leaves ~1e-16, which a tolerance scaled to that tiny maximum cannot absorb.
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9 * scale + 1e-13)


def test_fully_masked_rows_match_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 2))
    for mask in (np.ones((3, 5), dtype=bool), np.zeros((3, 5))):
        if mask.dtype == np.bool_:
            mask[1] = False
        else:
            mask[1] = -np.inf
        expected = torch.nn.functional.scaled_dot_product_attention(
            torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=torch.tensor(mask)
        ).numpy()
        _close(F.scaled_dot_product_attention(q, k, v, attn_mask=mask), expected)
    large = q * 1e2, k * 1e2
    expected = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(large[0]), torch.tensor(large[1]), torch.tensor(v)
    ).numpy()
    _close(F.scaled_dot_product_attention(large[0], large[1], v), expected)
