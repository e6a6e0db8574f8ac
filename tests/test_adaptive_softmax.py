"""AdaptiveLogSoftmaxWithLoss beyond the registry's generic tests: what a language model
uses (log_prob, predict, the loss's own backward), unbatched input, an unused cluster, and
the refusals."""

from __future__ import annotations

import numpy as np
import pytest

import refnet
import refnet.nn as nn

torch = pytest.importorskip("torch")


def pair(head_bias: bool = True) -> tuple[nn.AdaptiveLogSoftmaxWithLoss, object]:
    ours = nn.AdaptiveLogSoftmaxWithLoss(
        6, 15, [3, 8], div_value=2.0, head_bias=head_bias, dtype=np.float64, generator=0
    )
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(
        6, 15, [3, 8], div_value=2.0, head_bias=head_bias, dtype=torch.float64
    )
    theirs.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


X = np.random.default_rng(0).normal(size=(9, 6))


def test_log_prob_and_predict_match_torch_and_keep_no_cache() -> None:
    ours, theirs = pair()
    expected = theirs.log_prob(torch.from_numpy(X)).detach().numpy()
    np.testing.assert_allclose(ours.log_prob(X), expected, rtol=1e-12)
    np.testing.assert_allclose(np.exp(ours.log_prob(X)).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(torch.from_numpy(X)).numpy())
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 14])
    out = ours(X, y)
    ours.log_prob(X)  # between the forward and its backward: must not disturb it
    np.testing.assert_allclose(out.output, ours.log_prob(X)[np.arange(9), y], rtol=1e-12)
    ours.backward()
    assert np.abs(ours.head.weight.grad).sum() > 0


def test_backward_without_arguments_is_the_gradient_of_the_loss() -> None:
    ours, theirs = pair()
    y = np.array([0, 4, 9, 14, 2, 8, 3, 7, 11])
    x = torch.from_numpy(X.copy()).requires_grad_()
    theirs(x, torch.from_numpy(y)).loss.backward()
    ours(X, y)
    np.testing.assert_allclose(ours.backward(), x.grad.numpy(), rtol=1e-12)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-12, err_msg=name)


def test_unbatched_input_and_an_unused_cluster() -> None:
    ours, theirs = pair(head_bias=False)
    out = ours(X[0], np.array(5))
    their_out = theirs(torch.from_numpy(X[0]), torch.tensor(5))
    assert out.output.shape == ()
    np.testing.assert_allclose(out.output, their_out.output.item(), rtol=1e-12)
    grad = ours.backward(np.array(0.5), np.array(2.0))
    assert grad.shape == (6,)
    # Only cluster 0 (classes 3..7) was used: cluster 1's weights get zero (torch: None).
    assert not np.any(ours.tail[1][0].weight.grad) and not np.any(ours.tail[1][1].weight.grad)
    assert np.any(ours.tail[0][0].weight.grad)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 10, [5, 3])
    with pytest.raises(ValueError, match=r"each between 1 and n_classes-1 \(9\); got \[3, 10\]"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3, 10])
    with pytest.raises(ValueError, match="non-empty"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 10, [])
    for cutoffs in ([2.5, 4], [0, 3], [3, 3]):  # a fraction, a zero, a repeat: torch's too
        with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
            torch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs)
        with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
            nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs)
    ours, _ = pair()
    with pytest.raises(ValueError, match=r"target values should be in \[0, 14\]"):
        ours(X, np.full(9, 15))
    with pytest.raises(ValueError, match="same size in the batch dimension, got 9 and 8"):
        ours(X, np.zeros(8, dtype=np.int64))
    with pytest.raises(ValueError, match=r"expected input \(N, 6\) with target \(N,\)"):
        ours(X.reshape(3, 3, 6), np.zeros((3, 3), dtype=np.int64))  # torch: 1-D target only
    with pytest.raises(TypeError, match="integer array"):
        ours(X, np.zeros(9))
    ours(X, np.zeros(9, dtype=np.int64))
    with pytest.raises(TypeError, match="grad_loss as a number"):
        ours.backward(None, "1")
    with refnet.no_grad():
        ours(X, np.zeros(9, dtype=np.int64))
