"""Specific behaviour of the losses: worked examples, stability, errors and reductions.

The generic properties (gradient checks, agreement with torch over drawn options) are in
``test_loss_properties.py``; here are the cases worth naming one by one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

import refnet.nn as nn
from refnet.gradcheck import GradcheckError, check_loss
from refnet.nn import functional as F

# ---------------------------------------------------------------------- worked examples

PREDICTIONS = [1.5, 2.0, 3.5]
VALUES = [2.0, 1.5, 4.0]
LOGITS = [[0.8, 0.2, 0.0], [0.2, 0.5, 0.3]]
CLASSES = [0, 1]


def cross_entropy_by_hand() -> float:
    """Mean over the samples of ``log Σ_j e^{x_j} - x_y``, with nothing but ``math``."""
    per_sample = [
        math.log(sum(math.exp(z) for z in row)) - row[y]
        for row, y in zip(LOGITS, CLASSES, strict=True)
    ]
    return sum(per_sample) / len(per_sample)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mse_of_the_tutorial_example_is_a_quarter(dtype: type[np.floating]) -> None:
    value = nn.MSELoss()(np.array(PREDICTIONS, dtype), np.array(VALUES, dtype))
    # Every difference is ±0.5, so every square is 0.25 and so is their mean (exactly).
    assert value == 0.25


def test_the_tutorials_mse_of_0_375_divides_by_two_not_three() -> None:
    """docs/losses-worked-examples.md: 0.375 is ½·Σd² (or Σd²/(n - 1)), not the mean."""
    squares = (np.array(PREDICTIONS) - np.array(VALUES)) ** 2
    assert 0.5 * squares.sum() == 0.375
    assert squares.sum() / (len(squares) - 1) == 0.375
    assert nn.MSELoss()(np.array(PREDICTIONS), np.array(VALUES)) != 0.375


def test_cross_entropy_of_the_tutorial_example() -> None:
    assert cross_entropy_by_hand() == pytest.approx(0.8160240545355181, rel=1e-15, abs=0)
    value = nn.CrossEntropyLoss()(np.array(LOGITS), np.array(CLASSES))
    assert value == pytest.approx(cross_entropy_by_hand(), rel=1e-15, abs=0)
    assert value != pytest.approx(0.7135581378936768, rel=1e-3)


def _usual_mistakes() -> dict[str, float]:
    """The table of docs/losses-worked-examples.md, computed with refnet."""
    x, y = np.array(LOGITS), np.array(CLASSES)
    onehot = np.eye(3)[y]
    ce = nn.CrossEntropyLoss()(x, y)
    return {
        "correct": ce,
        "softmax twice": nn.CrossEntropyLoss()(F.softmax(x, dim=1), y),
        "softmax over the batch axis": nn.NLLLoss()(F.log_softmax(x, dim=0), y),
        "rows as probabilities": nn.NLLLoss()(np.log(x), y),
        "log forgotten": nn.NLLLoss()(F.softmax(x, dim=1), y),
        "sum": nn.CrossEntropyLoss(reduction="sum")(x, y),
        "first sample only": nn.CrossEntropyLoss()(x[:1], y[:1]),
        "log base 2": ce / math.log(2),
        "log base 10": ce / math.log(10),
        "targets swapped": nn.CrossEntropyLoss()(x, y[::-1].copy()),
        "label smoothing 0.1": nn.CrossEntropyLoss(label_smoothing=0.1)(x, y),
        "BCE with logits, one-hot": nn.BCEWithLogitsLoss()(x, onehot),
        "BCE of softmax, one-hot": nn.BCELoss()(F.softmax(x, dim=1), onehot),
        "multi-margin": nn.MultiMarginLoss()(x, y),
    }


DOCUMENTED = {
    "correct": 0.816024,
    "softmax twice": 0.990495,
    "softmax over the batch axis": 0.495922,
    "rows as probabilities": 0.458145,
    "log forgotten": -0.445580,
    "sum": 1.632048,
    "first sample only": 0.692217,
    "log base 2": 1.177274,
    "log base 10": 0.354395,
    "targets swapped": 1.266024,
    "label smoothing 0.1": 0.847691,
    "BCE with logits, one-hot": 0.664826,
    "BCE of softmax, one-hot": 0.489177,
    "multi-margin": 0.350000,
}


def test_the_documented_usual_mistakes_do_not_give_the_tutorials_0_7136() -> None:
    with np.errstate(divide="ignore"):  # log(0) of the rows-as-probabilities reading
        values = _usual_mistakes()
    for name, value in values.items():
        assert round(value, 6) == pytest.approx(DOCUMENTED[name], abs=1e-12), name
        assert abs(value - 0.7135581378936768) > 0.02, name
    # Not a float32 number: it was not printed from a float32 tensor.
    assert float(np.float32(0.7135581378936768)) == 0.7135581374168396


def test_cross_entropy_gradient_of_the_tutorial_example() -> None:
    criterion = nn.CrossEntropyLoss()
    criterion(np.array(LOGITS), np.array(CLASSES))
    p = np.exp(LOGITS) / np.exp(LOGITS).sum(axis=1, keepdims=True)
    expected = (p - np.eye(3)[CLASSES]) / 2  # (softmax - onehot) / N
    np.testing.assert_allclose(criterion.backward(), expected, rtol=1e-14)


def test_tutorial_examples_agree_with_torch() -> None:
    torch = pytest.importorskip("torch")
    mse = torch.nn.MSELoss()(torch.tensor(PREDICTIONS), torch.tensor(VALUES))
    ce = torch.nn.CrossEntropyLoss()(
        torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(CLASSES)
    )
    assert float(mse) == 0.25
    assert float(ce) == pytest.approx(cross_entropy_by_hand(), rel=1e-15, abs=0)


# ---------------------------------------------------------------------- stability


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Turn every warning (NumPy's overflow and invalid-value warnings too) into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_is_exact_for_logits_of_1e4(
    dtype: type[np.floating], smoothing: float
) -> None:
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4]], dtype)
    y = np.array([0, 0, 2])
    criterion = nn.CrossEntropyLoss(reduction="none", label_smoothing=smoothing)
    losses = criterion(x, y)
    grad = criterion.backward(np.ones(3, dtype))
    assert np.isfinite(losses).all() and np.isfinite(grad).all()
    if smoothing == 0:
        np.testing.assert_array_equal(losses, np.array([0.0, 2e4, 0.0], dtype))
        np.testing.assert_array_equal(grad, np.array([[0, 0, 0], [-1, 1, 0], [0, 0, 0]], dtype))
    assert np.isfinite(nn.CrossEntropyLoss(label_smoothing=smoothing)(x, y))


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_is_exact_for_logits_of_1e4(dtype: type[np.floating]) -> None:
    x = np.array([1e4, -1e4, 1e4, -1e4], dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    criterion = nn.BCEWithLogitsLoss(reduction="none")
    np.testing.assert_array_equal(criterion(x, t), np.array([0, 0, 1e4, 1e4], dtype))
    np.testing.assert_array_equal(criterion.backward(np.ones(4, dtype)), [0, 0, 1, -1])
    weighted = nn.BCEWithLogitsLoss(reduction="none", pos_weight=np.array([3.0], dtype))
    np.testing.assert_array_equal(weighted(x, t), np.array([0, 0, 1e4, 3e4], dtype))


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_clamps_the_log_at_minus_100_for_probabilities_0_and_1(
    dtype: type[np.floating],
) -> None:
    x = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    t = np.array([0.0, 1.0, 1.0, 0.0], dtype)
    criterion = nn.BCELoss(reduction="none")
    np.testing.assert_array_equal(criterion(x, t), np.array([0, 0, 100, 100], dtype))
    grad = criterion.backward(np.ones(4, dtype))
    assert grad.dtype == dtype
    # PyTorch's (x - t) / max(x(1 - x), 1e-12): finite, and huge where the loss is clamped.
    np.testing.assert_allclose(grad, np.array([0, 0, -1e12, 1e12], dtype), rtol=1e-6)


def test_bce_at_0_and_1_agrees_with_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.3])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.6])
    criterion = nn.BCELoss()
    value = criterion(x, t)
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.BCELoss()(tx, torch.tensor(t))
    theirs.backward()
    assert value == pytest.approx(float(theirs), rel=1e-14)
    assert tx.grad is not None
    np.testing.assert_allclose(criterion.backward(), tx.grad.numpy(), rtol=1e-6)


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("weight", [None, np.array([1.0, 2.0, 3.0])])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_an_all_ignored_batch_has_mean_nan_sum_zero_and_zero_gradient(
    weight: np.ndarray | None, smoothing: float
) -> None:
    x = np.random.default_rng(0).normal(size=(4, 3))
    y = np.full(4, -100)
    mean = nn.CrossEntropyLoss(weight, label_smoothing=smoothing)
    assert math.isnan(mean(x, y))  # 0/0, as in PyTorch
    np.testing.assert_array_equal(mean.backward(), np.zeros_like(x))
    total = nn.CrossEntropyLoss(weight, reduction="sum", label_smoothing=smoothing)
    assert total(x, y) == 0.0
    nll = nn.NLLLoss(weight)
    assert math.isnan(nll(F.log_softmax(x, dim=1), y))
    np.testing.assert_array_equal(nll.backward(), np.zeros_like(x))


@pytest.mark.usefixtures("no_warnings")
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_counted_targets_of_total_weight_zero_give_nan_and_a_zero_gradient(
    smoothing: float,
) -> None:
    """The documented choice (the class docstring): where every counted target's class has
    weight 0 the mean is 0/0 = NaN, as torch's, and the gradient 0 (torch's is NaN). With
    smoothing the other classes' weights are not 0, so only the zero divisor keeps it 0."""
    x = np.random.default_rng(0).normal(size=(4, 3))
    y = np.zeros(4, dtype=np.int64)
    criterion = nn.CrossEntropyLoss(np.array([0.0, 1.0, 2.0]), label_smoothing=smoothing)
    assert math.isnan(criterion(x, y))
    np.testing.assert_array_equal(criterion.backward(), np.zeros_like(x))
    nll = nn.NLLLoss(np.array([0.0, 1.0, 2.0]))
    assert math.isnan(nll(F.log_softmax(x, dim=1), y))
    np.testing.assert_array_equal(nll.backward(), np.zeros_like(x))


def test_an_all_ignored_batch_agrees_with_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(4, 3))
    tx = torch.tensor(x, requires_grad=True)
    theirs = torch.nn.CrossEntropyLoss(label_smoothing=0.2)(tx, torch.full((4,), -100))
    theirs.backward()
    criterion = nn.CrossEntropyLoss(label_smoothing=0.2)
    assert math.isnan(float(theirs)) and math.isnan(criterion(x, np.full(4, -100)))
    assert tx.grad is not None
    np.testing.assert_array_equal(criterion.backward(), tx.grad.numpy())


def test_ignored_positions_get_no_gradient_and_do_not_count_in_the_mean() -> None:
    x = np.random.default_rng(1).normal(size=(3, 4))
    y = np.array([2, -100, 1])
    criterion = nn.CrossEntropyLoss()
    value = criterion(x, y)
    kept = nn.CrossEntropyLoss()(x[[0, 2]], y[[0, 2]])
    assert value == pytest.approx(kept, rel=1e-15)
    np.testing.assert_array_equal(criterion.backward()[1], np.zeros(4))


# ---------------------------------------------------------------------- reductions


def test_cross_entropy_none_gives_one_loss_per_position() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 3, 5))
    y = rng.integers(0, 4, (2, 3, 5))
    criterion = nn.CrossEntropyLoss(reduction="none")
    losses = criterion(x, y)
    assert losses.shape == (2, 3, 5)
    log_p = F.log_softmax(x, dim=1)
    expected = -np.take_along_axis(log_p, y[:, None], axis=1)[:, 0]
    np.testing.assert_allclose(losses, expected, rtol=1e-14)
    G = rng.normal(size=(2, 3, 5))
    onehot = np.moveaxis(np.eye(4)[y], -1, 1)
    np.testing.assert_allclose(
        criterion.backward(G), G[:, None] * (np.exp(log_p) - onehot), rtol=1e-13, atol=1e-15
    )


def test_a_single_sample_with_a_scalar_target_gives_a_0d_loss() -> None:
    x = np.array([0.3, -1.2, 2.0])
    criterion = nn.CrossEntropyLoss(reduction="none")
    loss = criterion(x, np.int64(2))
    assert isinstance(loss, np.ndarray) and loss.shape == ()
    assert float(loss) == pytest.approx(float(F.logsumexp(x, axis=0) - 2.0), rel=1e-15)
    assert criterion.backward(np.array(1.0)).shape == (3,)


@pytest.mark.parametrize(
    "make",
    [nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCEWithLogitsLoss],
    ids=lambda c: c.__name__,
)
def test_mean_and_sum_reduce_the_none_losses(make: type[nn.Module]) -> None:
    rng = np.random.default_rng(3)
    x, t = rng.normal(size=(3, 4)), rng.uniform(size=(3, 4))
    losses = make(reduction="none")(x, t)
    assert make(reduction="sum")(x, t) == pytest.approx(losses.sum(), rel=1e-14)
    assert make(reduction="mean")(x, t) == pytest.approx(losses.mean(), rel=1e-14)


def test_kl_div_batchmean_is_the_kl_divergence_per_sample() -> None:
    rng = np.random.default_rng(4)
    q = F.softmax(rng.normal(size=(5, 3)), dim=1)
    p = F.softmax(rng.normal(size=(5, 3)), dim=1)
    kl_per_sample = np.sum(p * np.log(p / q), axis=1)
    criterion = nn.KLDivLoss(reduction="batchmean")
    assert criterion(np.log(q), p) == pytest.approx(kl_per_sample.mean(), rel=1e-13)
    np.testing.assert_allclose(criterion.backward(), -p / 5, rtol=1e-15)
    # 'mean' divides by the number of elements instead: 3 times smaller here.
    assert nn.KLDivLoss()(np.log(q), p) == pytest.approx(kl_per_sample.sum() / 15, rel=1e-13)
    log_target = nn.KLDivLoss(reduction="batchmean", log_target=True)
    assert log_target(np.log(q), np.log(p)) == pytest.approx(kl_per_sample.mean(), rel=1e-13)


def test_kl_div_batchmean_agrees_with_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = F.log_softmax(rng.normal(size=(4, 6)), dim=1)
    p = F.softmax(rng.normal(size=(4, 6)), dim=1)
    theirs = torch.nn.KLDivLoss(reduction="batchmean")(torch.tensor(x), torch.tensor(p))
    assert nn.KLDivLoss(reduction="batchmean")(x, p) == pytest.approx(float(theirs), rel=1e-14)


def test_kl_div_mean_does_not_warn(no_warnings: None) -> None:
    nn.KLDivLoss()(np.log(np.full((2, 2), 0.5)), np.full((2, 2), 0.5))


def test_backward_scales_by_its_argument() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 3)), rng.integers(0, 3, 4)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    criterion(x, y), criterion(x, y)  # each backward consumes one forward's cache
    np.testing.assert_allclose(criterion.backward(2.5), 2.5 * criterion.backward(), rtol=1e-15)
    criterion(x, y), criterion(x, y)
    np.testing.assert_allclose(criterion.backward(np.array(2.5)), criterion.backward(2.5))


def test_0d_inputs_work_for_elementwise_losses() -> None:
    criterion = nn.MSELoss(reduction="none")
    loss = criterion(np.array(1.5), np.array(2.0))
    assert isinstance(loss, np.ndarray) and loss.shape == () and float(loss) == 0.25
    grad = criterion.backward(np.array(2.0))
    assert isinstance(grad, np.ndarray) and grad.shape == () and float(grad) == -2.0


# ---------------------------------------------------------------------- relations


def test_cross_entropy_is_nll_of_log_softmax() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    w = rng.uniform(0.5, 2.0, 4)
    log_softmax = nn.LogSoftmax(dim=1)
    nll = nn.NLLLoss(w)
    value = nll(log_softmax(x), y)
    ce = nn.CrossEntropyLoss(w)
    assert ce(x, y) == pytest.approx(value, rel=1e-14)
    np.testing.assert_allclose(ce.backward(), log_softmax.backward(nll.backward()), rtol=1e-12)


def test_smooth_l1_is_l1_at_beta_0_and_huber_over_beta() -> None:
    rng = np.random.default_rng(8)
    x, t = rng.normal(size=10), rng.normal(size=10)
    assert nn.SmoothL1Loss(beta=0.0)(x, t) == nn.L1Loss()(x, t)
    beta = 0.7
    smooth, huber = nn.SmoothL1Loss(beta=beta), nn.HuberLoss(delta=beta)
    assert smooth(x, t) == pytest.approx(huber(x, t) / beta, rel=1e-14)
    np.testing.assert_allclose(smooth.backward(), huber.backward() / beta, rtol=1e-14)


def test_float32_inputs_stay_float32_with_float64_targets_and_weights() -> None:
    rng = np.random.default_rng(9)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    ce = nn.CrossEntropyLoss(rng.uniform(0.5, 2.0, 3), label_smoothing=0.1)
    ce(x, rng.integers(0, 3, 4))
    assert ce.backward().dtype == np.float32
    bce = nn.BCEWithLogitsLoss(rng.uniform(size=3), pos_weight=rng.uniform(size=3))
    bce(x, rng.uniform(size=(4, 3)))
    assert bce.backward().dtype == np.float32
    mse = nn.MSELoss(reduction="none")
    assert mse(x, rng.normal(size=(4, 3))).dtype == np.float32
    with pytest.raises(TypeError, match="gradient of dtype float64 for an output of dtype float32"):
        mse.backward(np.ones((4, 3)))  # refnet does not cast (torch's autograd would)
    assert mse.backward(np.ones((4, 3), np.float32)).dtype == np.float32


def test_weights_are_buffers_in_the_state_dict() -> None:
    w, pw = np.array([1.0, 2.0]), np.array([0.5, 3.0])
    assert set(nn.CrossEntropyLoss(w).state_dict()) == {"weight"}
    assert set(nn.BCEWithLogitsLoss(w, pos_weight=pw).state_dict()) == {"weight", "pos_weight"}
    assert nn.CrossEntropyLoss().state_dict() == {}
    assert repr(nn.CrossEntropyLoss(w)) == "CrossEntropyLoss()"  # PyTorch's repr


def test_a_wrong_backward_is_caught() -> None:
    class HalfMSE(nn.MSELoss):
        def _derivative(self, x: np.ndarray, t: np.ndarray) -> np.ndarray:
            return x - t  # forgot the factor 2

    x, t = np.random.default_rng(10).normal(size=(2, 3, 4))
    with pytest.raises(GradcheckError):
        check_loss(HalfMSE(), x, (t,))
    check_loss(nn.MSELoss(), x, (t,))


# ---------------------------------------------------------------------- errors

X = np.random.default_rng(11).normal(size=(2, 3))


def test_a_target_class_out_of_range_names_the_range() -> None:
    with pytest.raises(ValueError, match=r"target class 3 is out of range.*\[0, 2\]"):
        nn.CrossEntropyLoss()(X, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target class -1 .*\[0, 2\].*ignore_index=-100"):
        nn.NLLLoss()(X, np.array([-1, 0]))
    with pytest.raises(ValueError, match=r"target class 7 .*\[0, 2\]"):
        nn.MultiMarginLoss()(X, np.array([7, 0]))


def test_float_class_indices_are_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"class indices must be integers.*\(2,\)"):
        nn.CrossEntropyLoss()(X, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="must be integers"):
        nn.NLLLoss()(X, np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="must be floating point"):
        nn.CrossEntropyLoss()(X, np.zeros((2, 3), dtype=np.int64))


def test_target_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected target of shape \(2,\).*got \(3,\)"):
        nn.CrossEntropyLoss()(X, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"target of shape \(3,\) does not match.*\(2, 3\)"):
        nn.MSELoss()(X, np.zeros(3))
    with pytest.raises(ValueError, match=r"input1 \(2, 3\), input2 \(2, 2\)"):
        nn.MarginRankingLoss()(X, X[:, :2], np.ones((2, 3)))


def test_bce_rejects_probabilities_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\].*BCEWithLogitsLoss"):
        nn.BCELoss()(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        nn.BCELoss()(np.array([-0.1, 0.5]), np.array([0.0, 1.0]))


def test_weight_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"one entry per class, shape \(3,\)"):
        nn.CrossEntropyLoss(np.ones(4))(X, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"weight of shape \(4,\) does not broadcast"):
        nn.BCEWithLogitsLoss(np.ones(4))(X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one-dimensional"):
        nn.MultiMarginLoss(weight=np.ones((2, 3)))


def test_inputs_must_be_float_arrays() -> None:
    with pytest.raises(TypeError, match="NumPy array"):
        nn.MSELoss()([1.0, 2.0], np.zeros(2))
    with pytest.raises(TypeError, match="floating-point"):
        nn.CrossEntropyLoss()(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))
    with pytest.raises(TypeError, match="real-valued"):
        nn.MSELoss()(np.zeros(2), np.array(["a", "b"]))
    with pytest.raises(TypeError, match="input2 has dtype float32 but input1 has float64"):
        nn.CosineEmbeddingLoss()(X, X.astype(np.float32), np.ones(2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: nn.MSELoss(reduction="avg"), "reduction must be one of"),
        (lambda: nn.CrossEntropyLoss(reduction="batchmean"), "reduction must be one of"),
        (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), r"label_smoothing must be in \[0, 1\]"),
        (lambda: nn.SmoothL1Loss(beta=-1.0), "beta must be non-negative"),
        (lambda: nn.HuberLoss(delta=0.0), "delta must be positive"),
        (lambda: nn.MultiMarginLoss(p=3), "only p = 1 and p = 2"),
        (lambda: nn.TripletMarginLoss(margin=0.0), "margin must be positive"),
        (lambda: nn.TripletMarginLoss(p=0.0), "p must be positive"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


def test_probability_targets_do_not_take_an_ignore_index() -> None:
    with pytest.raises(ValueError, match="ignore_index=0 cannot be used with probability"):
        nn.CrossEntropyLoss(ignore_index=0)(X, np.full((2, 3), 1 / 3))


def test_sign_targets_must_be_plus_or_minus_one() -> None:
    with pytest.raises(ValueError, match="must be 1 or -1, got 0"):
        nn.CosineEmbeddingLoss()(X, X, np.array([1, 0]))
    with pytest.raises(ValueError, match="must be 1 or -1"):
        nn.HingeEmbeddingLoss()(X, np.zeros((2, 3)))


def test_backward_arguments_are_checked() -> None:
    none = nn.MSELoss(reduction="none")
    none(X, np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"needs the upstream gradient.*\(2, 3\)"):
        none.backward()
    with pytest.raises(ValueError, match=r"gradient of the output's shape \(2, 3\), got \(3,\)"):
        none.backward(np.ones(3))
    mean = nn.MSELoss()
    mean(X, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="optional scalar scale"):
        mean.backward(np.ones((2, 3)))


def test_backward_before_forward_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match=r"CrossEntropyLoss\(\): backward\(\) called before"):
        nn.CrossEntropyLoss().backward()


@pytest.mark.parametrize("target", [True, np.bool_(False), "1.0", [1.0], None])
def test_a_target_that_is_not_an_array_or_a_number_is_refused_by_name(target: object) -> None:
    with pytest.raises(TypeError, match=r"MSELoss\(\): expected target to be a NumPy array"):
        nn.MSELoss()(np.array(0.5), target)
    with pytest.raises(TypeError, match=r"CrossEntropyLoss\(\): expected target to be a NumPy"):
        nn.CrossEntropyLoss()(np.zeros(3), target)


def test_a_number_as_target_is_taken_as_a_0d_array() -> None:
    assert nn.MSELoss()(np.array(0.5), 2) == nn.MSELoss()(np.array(0.5), np.array(2.0)) == 2.25
    assert nn.MSELoss()(np.array(0.5), np.float32(2.0)) == 2.25
    assert nn.CrossEntropyLoss()(np.zeros(3), 1) == pytest.approx(math.log(3))


@pytest.mark.parametrize(("name", "option"), [("SmoothL1Loss", "beta"), ("HuberLoss", "delta")])
@pytest.mark.parametrize("beta", [0.1, 0.2])
def test_exactly_at_the_switch_the_linear_branch_is_taken_as_torch(
    name: str, option: str, beta: float
) -> None:
    """At |d| = β the two branches are equal in exact arithmetic but not always in floating
    point (½·0.1·0.1/0.1 is 0.05000000000000001, 0.1 - ½·0.1 is 0.05): torch takes the
    linear one (``|d| < β`` for the quadratic), and refnet must give its very numbers."""
    torch = pytest.importorskip("torch")
    options = {"reduction": "none", option: beta}
    x, t = np.array([beta, -beta, 0.0, 2 * beta]), np.zeros(4)
    expected = getattr(torch.nn, name)(**options)(torch.from_numpy(x), torch.from_numpy(t))
    np.testing.assert_array_equal(getattr(nn, name)(**options)(x, t), expected.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("ignoring", [False, True])
@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 2, 3)])
def test_class_index_losses_over_every_option_grid_match_torch(
    reduction: str, weighted: bool, smoothing: float, ignoring: bool, shape: tuple[int, ...]
) -> None:
    """Every combination once, deterministically (the Hypothesis cases draw them, a few at
    a time): spatial positions with and without weights, smoothing and ignored targets."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(sum(shape) + 7 * weighted + 13 * ignoring)
    x = rng.normal(size=shape)
    y = rng.integers(0, 3, size=(shape[0], *shape[2:]))
    if ignoring:
        y.flat[::3] = 1  # ignore_index=1: a valid class whose targets count for nothing
    weight = np.array([0.5, 2.0, 1.5]) if weighted else None
    options = {"reduction": reduction, "ignore_index": 1 if ignoring else -100}
    tw = None if weight is None else torch.from_numpy(weight)
    for ours, theirs, inputs in [
        (
            nn.CrossEntropyLoss(weight, label_smoothing=smoothing, **options),
            torch.nn.CrossEntropyLoss(tw, label_smoothing=smoothing, **options),
            x,
        ),
        (nn.NLLLoss(weight, **options), torch.nn.NLLLoss(tw, **options), F.log_softmax(x, 1)),
    ]:
        tx = torch.tensor(inputs, requires_grad=True)
        expected = theirs(tx, torch.from_numpy(y))
        upstream = rng.normal(size=expected.shape)
        expected.backward(torch.from_numpy(upstream))
        value = ours(inputs, y)
        grad = ours.backward(upstream if reduction == "none" else float(upstream))
        np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_kl_div_batchmean_of_a_0d_input_divides_by_nothing_as_torch() -> None:
    torch = pytest.importorskip("torch")
    x, t = np.array(-0.7), np.array(0.3)
    tx = torch.tensor(x, requires_grad=True)
    expected = torch.nn.KLDivLoss(reduction="batchmean")(tx, torch.tensor(t))
    expected.backward()
    criterion = nn.KLDivLoss(reduction="batchmean")
    assert criterion(x, t) == pytest.approx(expected.item(), rel=1e-14)
    np.testing.assert_allclose(criterion.backward(), tx.grad.numpy(), rtol=1e-14)


@pytest.mark.usefixtures("no_warnings")
def test_one_class_every_target_ignored_matches_torch() -> None:
    """C = 1 and ignore_index = 0: every target is ignored and no other class exists to
    stand in for it (the ignored positions must read a class that is there)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).normal(size=(4, 1))
    y = np.zeros(4, dtype=np.int64)
    for ours, theirs, inputs in [
        (nn.CrossEntropyLoss(ignore_index=0), torch.nn.CrossEntropyLoss(ignore_index=0), x),
        (
            nn.NLLLoss(ignore_index=0, reduction="sum"),
            torch.nn.NLLLoss(ignore_index=0, reduction="sum"),
            x,
        ),
    ]:
        tx = torch.tensor(inputs, requires_grad=True)
        expected = theirs(tx, torch.from_numpy(y))
        expected.backward()
        value = ours(inputs, y)
        mine, theirs_value = float(value), expected.item()
        assert mine == theirs_value or (math.isnan(mine) and math.isnan(theirs_value))
        np.testing.assert_array_equal(ours.backward(), tx.grad.numpy())


def test_ignore_index_0_is_ignored_when_every_target_is_a_valid_class() -> None:
    """Class 0 is a valid class and the ignore_index: its targets must still count for
    nothing although no target is out of range (the fast path skips the mask otherwise)."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).normal(size=(4, 3))
    y = np.array([0, 2, 0, 1])
    for ours, theirs in [
        (nn.CrossEntropyLoss(ignore_index=0), torch.nn.CrossEntropyLoss(ignore_index=0)),
        (nn.NLLLoss(ignore_index=0), torch.nn.NLLLoss(ignore_index=0)),
    ]:
        tx = torch.tensor(x, requires_grad=True)
        expected = theirs(tx, torch.from_numpy(y))
        expected.backward()
        assert ours(x, y) == pytest.approx(expected.item(), rel=1e-14)
        np.testing.assert_allclose(ours.backward(), tx.grad.numpy(), rtol=1e-14, atol=1e-16)


def test_cosine_embedding_target_of_another_shape_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"expected target of shape \(2,\) for inputs of shape"):
        nn.CosineEmbeddingLoss()(X, X, np.ones(3))
    with pytest.raises(ValueError, match=r"expected target of shape \(\) for inputs of shape"):
        nn.CosineEmbeddingLoss()(X[0], X[0], np.ones(3))
