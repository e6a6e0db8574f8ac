"""InstanceNorm1d/2d/3d, F.instance_norm and LocalResponseNorm / F.local_response_norm:
against torch.nn.functional and its autograd, against the reference loops, and the
behaviour a reader of PyTorch's docs expects (defaults, running statistics, errors).
The generic properties come from tests/cases/normalization.py."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refnet.nn as nn
import refnet.nn.functional as F
from refnet.nn.functional import normalization as N

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(
    seed=st.integers(0, 2**16),
    spatial=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    affine=st.booleans(),
    running=st.booleans(),
    use_input_stats=st.booleans(),
)
def test_instance_norm_and_its_backward_match_torch(
    dtype: Any, seed: int, spatial: list[int], affine: bool, running: bool, use_input_stats: bool
) -> None:
    rng = np.random.default_rng(seed)
    spatial[-1] += 1  # more than one position per instance
    use_input_stats = use_input_stats or not running
    x = rng.normal(size=(2, 3, *spatial)).astype(dtype)
    w = rng.uniform(0.5, 2, 3).astype(dtype) if affine else None
    b = rng.normal(size=3).astype(dtype) if affine else None
    rm = rng.normal(size=3).astype(dtype) if running else None
    rv = rng.uniform(0.5, 2, 3).astype(dtype) if running else None
    t = {k: None if v is None else torch.tensor(v) for k, v in dict(w=w, b=b, rm=rm, rv=rv).items()}
    tx = torch.tensor(x, requires_grad=True)
    for key in ("w", "b"):
        if t[key] is not None:
            t[key].requires_grad_()
    ours_rm, ours_rv = (None, None) if rm is None else (rm.copy(), rv.copy())  # type: ignore[union-attr]
    ty = TF.instance_norm(tx, t["rm"], t["rv"], t["w"], t["b"], use_input_stats, 0.3, 1e-3)
    y = F.instance_norm(x, ours_rm, ours_rv, w, b, use_input_stats, 0.3, 1e-3)
    g = rng.normal(size=y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    tol = 1e-10 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    if running:
        np.testing.assert_allclose(ours_rm, t["rm"].numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(ours_rv, t["rv"].numpy(), rtol=tol, atol=tol)
    dx, dw, db = F.instance_norm_backward(g, x, rm, rv, w, b, use_input_stats, 0.3, 1e-3)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    if affine:
        np.testing.assert_allclose(dw, t["w"].grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(db, t["b"].grad.numpy(), rtol=tol, atol=tol)
    else:
        assert dw is None and db is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@given(
    seed=st.integers(0, 2**16),
    size=st.integers(1, 6),
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    alpha=st.sampled_from([1e-4, 0.5, 2.0]),
    beta=st.sampled_from([0.75, 0.3, 2.0]),
    k=st.sampled_from([1.0, 0.5, 3.0]),
)
def test_local_response_norm_and_its_backward_match_torch(
    dtype: Any, seed: int, size: int, shape: list[int], alpha: float, beta: float, k: float
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 5, *shape)).astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.local_response_norm(tx, size, alpha, beta, k)
    y = F.local_response_norm(x, size, alpha, beta, k)
    g = rng.normal(size=y.shape).astype(dtype)
    ty.backward(torch.from_numpy(g))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert y.dtype == dtype
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=tol, atol=tol)
    dx = F.local_response_norm_backward(g, x, size, alpha, beta, k)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    if dtype == np.float64:
        np.testing.assert_allclose(y, N.local_response_norm_reference(x, size, alpha, beta, k))
        np.testing.assert_allclose(
            dx, N.local_response_norm_backward_reference(g, x, size, alpha, beta, k), atol=1e-12
        )


@pytest.mark.parametrize("cls", [nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d])
def test_instance_norm_defaults_and_repr_are_torchs(cls: type[nn.Module]) -> None:
    ours, theirs = cls(3), getattr(torch.nn, cls.__name__)(3)
    assert repr(ours) == repr(theirs)
    assert not ours.affine and not ours.track_running_stats
    assert ours.weight is None and ours.running_mean is None
    assert repr(cls(3, affine=True, track_running_stats=True)) == repr(
        getattr(torch.nn, cls.__name__)(3, affine=True, track_running_stats=True)
    )


def test_momentum_none_leaves_the_running_statistics_alone() -> None:
    """torch passes momentum=None on as 0: the running statistics never move (and
    num_batches_tracked stays 0: instance norm does not count batches)."""
    layer = nn.InstanceNorm1d(2, momentum=None, track_running_stats=True).double()
    layer(np.random.default_rng(0).normal(size=(3, 2, 5)))
    np.testing.assert_array_equal(layer.running_mean, [0, 0])
    np.testing.assert_array_equal(layer.running_var, [1, 1])
    assert int(layer.num_batches_tracked) == 0


@pytest.mark.parametrize("training", [True, False])
def test_tracking_turned_off_after_construction_as_torch(training: bool) -> None:
    """``track_running_stats = False`` on a layer with buffers: torch normalises with the
    input's statistics and still moves the buffers it has, in training and evaluation
    alike (found while triaging normalization.py's mutation run: refnet left them)."""
    ours = nn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    theirs = torch.nn.InstanceNorm1d(3, affine=True, track_running_stats=True).double()
    ours.track_running_stats = theirs.track_running_stats = False
    ours.train(training), theirs.train(training)
    x = np.random.default_rng(0).normal(size=(2, 3, 5)) * 3 + 2
    np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach(), rtol=1e-12)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
    assert not np.all(ours.running_mean == 0)  # the case the test is about


def test_a_one_element_input_in_evaluation_has_a_gradient_as_torch() -> None:
    """Running statistics take one position (the mutation run: the empty-gradient
    shortcut's ``size == 0`` as ``size == 1`` survived)."""
    ours = nn.InstanceNorm1d(1, affine=True, track_running_stats=True).double().eval()
    theirs = torch.nn.InstanceNorm1d(1, affine=True, track_running_stats=True).double().eval()
    ours.running_mean[...] = theirs.running_mean[...] = 0.5
    ours.weight.data[...] = 3.0
    with torch.no_grad():
        theirs.weight[...] = 3.0
    x = np.array([[[2.0]]])
    tx = torch.from_numpy(x).requires_grad_()
    np.testing.assert_allclose(ours(x), theirs(tx).detach(), rtol=1e-12)
    theirs(tx).sum().backward()
    np.testing.assert_allclose(ours.backward(np.ones_like(x)), tx.grad, rtol=1e-12)


def test_running_statistics_are_the_mean_of_the_instances() -> None:
    x = np.array([[[0.0, 2.0]], [[4.0, 8.0]]])  # two instances of one channel
    layer = nn.InstanceNorm1d(1, momentum=1.0, track_running_stats=True).double()
    layer(x)
    np.testing.assert_allclose(layer.running_mean, [(1 + 6) / 2])
    np.testing.assert_allclose(layer.running_var, [(2 + 8) / 2])  # unbiased: 2 and 8
    layer.eval()
    np.testing.assert_allclose(layer(x), (x - 3.5) / np.sqrt(5 + 1e-5))


def test_instance_norm_errors_and_the_warning_torch_gives() -> None:
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm2d(2)(np.zeros((3, 2, 1, 1)))
    with pytest.raises(ValueError, match=r"InstanceNorm1d\(2.*expected input of shape"):
        nn.InstanceNorm1d(2)(np.zeros((2, 2, 3, 3)))
    for cls, layout in ((nn.InstanceNorm1d, "L"), (nn.InstanceNorm2d, "H, W")):
        # the expected layout named per class (the mutation run: its index nudged survived)
        expected = rf"expected input of shape \(N, C, {layout}\) or \(C, {layout}\), got \(2,\)"
        with pytest.raises(ValueError, match=expected):
            cls(2)(np.zeros(2))
    with pytest.raises(ValueError, match="2 channels at dim 1"):
        nn.InstanceNorm1d(2, affine=True)(np.zeros((1, 3, 4), np.float32))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = nn.InstanceNorm1d(2)(np.arange(12.0, dtype=np.float32).reshape(1, 3, 4))
    assert y.shape == (1, 3, 4)
    assert any("size at dim=1 does not match num_features" in str(w.message) for w in caught)


def test_local_response_norm_repr_and_errors() -> None:
    assert repr(nn.LocalResponseNorm(3, k=2.0)) == repr(torch.nn.LocalResponseNorm(3, k=2.0))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        nn.LocalResponseNorm(2)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="size must be a positive int"):
        nn.LocalResponseNorm(0)


@pytest.mark.parametrize("size", [0, -1, 2.5, 2.0])
def test_functional_local_response_norm_refuses_a_size_that_is_not_a_positive_int(
    size: Any,
) -> None:
    x = np.zeros((1, 3, 4))
    with pytest.raises(ValueError, match="size must be a positive int"):
        F.local_response_norm(x, size)
    with pytest.raises(ValueError, match="size must be a positive int"):
        F.local_response_norm_backward(x, x, size)


def test_functional_instance_norm_refuses_one_spatial_element_when_training_as_torch() -> None:
    x = np.random.default_rng(0).normal(size=(3, 2, 1))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(x)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm_backward(x, x)
    with pytest.raises((ValueError, RuntimeError), match="more than 1 spatial element"):
        TF.instance_norm(torch.from_numpy(x))
    stats = np.zeros(2), np.ones(2)  # with the running statistics one position is fine
    np.testing.assert_allclose(
        F.instance_norm(x, *stats, use_input_stats=False),
        TF.instance_norm(
            torch.from_numpy(x), *map(torch.from_numpy, stats), use_input_stats=False
        ).numpy(),
    )


@pytest.mark.parametrize("given", ["running_mean", "running_var"])
def test_functional_instance_norm_without_input_stats_needs_both_running_statistics(
    given: str,
) -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    statistics = {given: np.ones(3)}
    with pytest.raises(ValueError, match="needs running statistics"):
        F.instance_norm(x, use_input_stats=False, **statistics)
    with pytest.raises(ValueError, match="needs running statistics"):
        F.instance_norm_backward(x, x, use_input_stats=False, **statistics)
