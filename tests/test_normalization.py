"""Batch, layer and group norm: running statistics over many steps vs torch, the modes,
what the outputs are, numerical stability, degenerate sizes and the error messages."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn


def _torch():  # type: ignore[no-untyped-def]
    return pytest.importorskip("torch")


# ----------------------------------------------------------------------------- running stats


@pytest.mark.parametrize(
    ("cls", "shape"),
    [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)), (nn.BatchNorm2d, (4, 3, 5, 6))],
)
@pytest.mark.parametrize("momentum", [0.1, 0.7, None])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_running_statistics_follow_torch_over_many_steps(
    cls: type[nn.Module], shape: tuple[int, ...], momentum: float | None, dtype: type
) -> None:
    """Six training steps on shifted, scaled batches, an evaluation step in between."""
    torch = _torch()
    from refnet.interop.torch import to_torch

    ours = cls(3, momentum=momentum).to(dtype)
    theirs = to_torch(ours)
    rng = np.random.default_rng(0)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    for step in range(7):
        training = step != 3
        ours.train(training), theirs.train(training)
        x = (rng.standard_normal(shape) * (1 + step) + step).astype(dtype)
        g = rng.standard_normal(shape).astype(dtype)
        y = ours(x)
        grad = ours.backward(g)
        tx = torch.from_numpy(x).requires_grad_(True)
        ty = theirs(tx)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=rtol)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=rtol, atol=rtol)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(
                ours.state_dict()[key], value.numpy(), rtol=rtol, err_msg=f"step {step}: {key}"
            )
    assert int(ours.num_batches_tracked) == 6


def test_running_variance_is_unbiased_and_momentum_none_averages_every_batch() -> None:
    bn = nn.BatchNorm1d(1, momentum=None).double()
    batches = [np.array([[1.0], [2.0], [6.0]]), np.array([[0.0], [4.0]]), np.array([[3.0], [5.0]])]
    for x in batches:
        bn(x)
    means = [b.mean() for b in batches]
    unbiased = [b.var(ddof=1) for b in batches]
    np.testing.assert_allclose(bn.running_mean, [np.mean(means)], rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, [np.mean(unbiased)], rtol=1e-15)


def test_momentum_weights_the_new_batch() -> None:
    bn = nn.BatchNorm1d(1, momentum=0.25).double()
    x = np.array([[1.0], [3.0]])  # mean 2, unbiased variance 2
    bn(x)
    np.testing.assert_allclose(bn.running_mean, [0.75 * 0 + 0.25 * 2])
    np.testing.assert_allclose(bn.running_var, [0.75 * 1 + 0.25 * 2])


@pytest.mark.parametrize("momentum", [0.3, None])
def test_running_statistics_without_a_batch_count_follow_torch(momentum: float | None) -> None:
    """``num_batches_tracked`` set to ``None``: a momentum still weighs the batch, and
    ``momentum=None`` (no count to average over) leaves the statistics alone, as torch's
    factor 0 does (the mutation run: the count's default of 1 as 2 survived; it was
    refnet's factor, 1, that differed from torch's)."""
    torch = _torch()
    ours = nn.BatchNorm1d(3, momentum=momentum).double()
    theirs = torch.nn.BatchNorm1d(3, momentum=momentum).double()
    ours.num_batches_tracked = None
    theirs.num_batches_tracked = None
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((6, 3)) * 2 + 1
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach(), rtol=1e-12)
        for key in ("running_mean", "running_var"):
            np.testing.assert_allclose(getattr(ours, key), getattr(theirs, key), rtol=1e-12)
    assert ours.num_batches_tracked is None


def test_tracking_turned_off_after_construction_leaves_the_buffers_alone_as_torch() -> None:
    """``track_running_stats = False`` on a layer that has its buffers: training uses the
    batch and updates nothing, evaluation still uses the buffers, as in torch (the
    mutation run: ``training and track_running_stats`` as ``or`` survived)."""
    torch = _torch()
    ours, theirs = nn.BatchNorm1d(3).double(), torch.nn.BatchNorm1d(3).double()
    rng = np.random.default_rng(0)
    for training in (True, False):
        ours.train(training), theirs.train(training)
        x = rng.standard_normal((6, 3)) * 3 + 2
        ours(x), theirs(torch.from_numpy(x))  # one step with tracking on
        ours.track_running_stats = theirs.track_running_stats = False
        x = rng.standard_normal((6, 3)) * 3 + 2
        np.testing.assert_allclose(ours(x), theirs(torch.from_numpy(x)).detach(), rtol=1e-12)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12)
        ours.track_running_stats = theirs.track_running_stats = True


RESETTABLE = {
    "BatchNorm1d": lambda lib: lib.BatchNorm1d(3),
    "BatchNorm2d": lambda lib: lib.BatchNorm2d(3),
    "BatchNorm3d": lambda lib: lib.BatchNorm3d(3),
    "InstanceNorm2d": lambda lib: lib.InstanceNorm2d(3, affine=True, track_running_stats=True),
    "LayerNorm": lambda lib: lib.LayerNorm((2, 3)),
    "GroupNorm": lambda lib: lib.GroupNorm(3, 6),
    "RMSNorm": lambda lib: lib.RMSNorm(3),
}


@pytest.mark.parametrize("name", sorted(RESETTABLE))
def test_reset_parameters_and_running_stats_restore_torchs_initial_state(name: str) -> None:
    """Every parameter and buffer scrambled, then ``reset_running_stats`` (buffers back,
    parameters kept) and ``reset_parameters`` (all back), as torch's fresh module's (the
    mutation run: the reset values 0 and 1 nudged survived)."""
    torch = _torch()
    ours, theirs = RESETTABLE[name](nn), RESETTABLE[name](torch.nn)
    rng = np.random.default_rng(0)
    for _, array in [*((n, p.data) for n, p in ours.named_parameters()), *ours.named_buffers()]:
        array[...] = rng.integers(2, 9, array.shape)
    scrambled = {key: value.copy() for key, value in ours.state_dict().items()}
    fresh = {key: value.numpy() for key, value in theirs.state_dict().items()}
    if hasattr(ours, "reset_running_stats"):
        ours.reset_running_stats()
        for key, value in ours.state_dict().items():
            buffer = key.startswith(("running_", "num_batches"))
            np.testing.assert_array_equal(value, (fresh if buffer else scrambled)[key], key)
    ours.reset_parameters()
    assert sorted(ours.state_dict()) == sorted(fresh)
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(value, fresh[key], key)


# ----------------------------------------------------------------------------- modes


def test_training_mode_normalises_with_the_batch_and_uses_the_biased_variance() -> None:
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3, eps=1e-12).double()
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    y = bn(rng.standard_normal((5, 3, 4, 4)) * 3 + 7)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), [0.0, -1.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), [1.0, 2.0, 0.5], rtol=1e-9)


def test_evaluation_mode_is_a_fixed_affine_map_and_leaves_the_statistics_alone() -> None:
    bn = nn.BatchNorm1d(2, eps=1e-5).double()
    bn.running_mean[...] = [1.0, -2.0]
    bn.running_var[...] = [4.0, 0.25]
    bn.eval()
    x = np.array([[1.0, -2.0], [3.0, 0.0], [5.0, 2.0]])
    expected = (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)
    np.testing.assert_allclose(bn(x), expected, rtol=1e-14)
    np.testing.assert_allclose(bn(x[:1]), expected[:1], rtol=1e-14)  # a batch of one is fine
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0])
    assert int(bn.num_batches_tracked) == 0
    # μ and σ are constants in evaluation mode: ∂L/∂x = G γ/σ.
    g = np.ones((1, 2))
    np.testing.assert_allclose(bn.backward(g), g / np.sqrt(np.array([4.0, 0.25]) + 1e-5))


def test_without_running_statistics_evaluation_uses_the_batch() -> None:
    bn = nn.BatchNorm1d(2, track_running_stats=False).double()
    assert bn.running_mean is None and bn.num_batches_tracked is None
    assert set(bn.state_dict()) == {"weight", "bias"}
    x = np.random.default_rng(0).standard_normal((6, 2))
    train_out = bn(x)
    np.testing.assert_array_equal(bn.eval()(x), train_out)


def test_state_dict_keys_and_values_load_into_torch() -> None:
    torch = _torch()
    bn = nn.BatchNorm2d(4)
    bn(np.random.default_rng(0).standard_normal((3, 4, 2, 2)).astype(np.float32))
    theirs = torch.nn.BatchNorm2d(4)
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in bn.state_dict().items()})
    assert list(bn.state_dict()) == list(theirs.state_dict())
    assert int(theirs.num_batches_tracked) == 1


def test_affine_false_and_bias_false() -> None:
    assert nn.BatchNorm2d(3, affine=False).weight is None
    bn = nn.BatchNorm2d(3, bias=False)
    assert bn.bias is None and bn.weight is not None
    assert "bias=False" in repr(bn)
    assert [name for name, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    assert list(nn.GroupNorm(2, 4, affine=False).parameters()) == []


def test_reprs_match_torch() -> None:
    torch = _torch()
    pairs = [
        (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)),
        (nn.BatchNorm2d(8, affine=False), torch.nn.BatchNorm2d(8, affine=False)),
        (nn.LayerNorm([2, 3], eps=1e-3), torch.nn.LayerNorm([2, 3], eps=1e-3)),
        (nn.GroupNorm(2, 6, affine=False), torch.nn.GroupNorm(2, 6, affine=False)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


# ----------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4])
def test_batch_norm_is_stable_for_a_large_mean_in_float32(offset: float) -> None:
    """Corrected two-pass statistics: E[x²] - μ² would cancel all of float32's digits
    here (an error of ~1e3 at offset 1e4); a plain two-pass mean errs by a few units in
    the last place of the offset. The output must be good to one such unit, like torch's."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((32, 4, 6, 6)) + offset).astype(np.float32)
    bn = nn.BatchNorm2d(4)
    y = bn(x)
    reference = nn.BatchNorm2d(4).double()
    expected = reference(x.astype(np.float64))
    unit = float(np.spacing(np.float32(offset)))
    np.testing.assert_allclose(y, expected, rtol=0, atol=unit)
    np.testing.assert_allclose(bn.running_mean, reference.running_mean, rtol=1e-7)
    np.testing.assert_allclose(bn.running_var, reference.running_var, rtol=1e-4)
    g = rng.standard_normal(x.shape)
    grad = bn.backward(g.astype(np.float32))
    np.testing.assert_allclose(grad, reference.backward(g), rtol=0, atol=unit)


def test_big_float32_batch_agrees_with_torch() -> None:
    torch = _torch()
    from refnet.interop.torch import to_torch

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 16, 12, 12)) * 2 + 1).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ours = nn.BatchNorm2d(16)
    ours.weight.data[...] = rng.uniform(0.5, 2, 16)
    theirs = to_torch(ours)
    y, grad = ours(x), ours.backward(g)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = theirs(tx)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5)


def test_layer_norm_normalises_the_trailing_dimensions() -> None:
    x = np.random.default_rng(0).standard_normal((3, 4, 5)) * 4 + 2
    y = nn.LayerNorm((4, 5), eps=1e-12).double()(x)
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, rtol=1e-9)


def test_group_norm_with_one_group_is_layer_norm_over_channels_and_positions() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 3, 3))
    gn = nn.GroupNorm(1, 6, affine=False).double()
    ln = nn.LayerNorm((6, 3, 3), elementwise_affine=False).double()
    np.testing.assert_allclose(gn(x), ln(x), rtol=1e-13)
    g = rng.standard_normal(x.shape)
    np.testing.assert_allclose(gn.backward(g), ln.backward(g), rtol=1e-11, atol=1e-13)


def test_group_norm_with_one_channel_per_group_is_instance_norm() -> None:
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 5))
    y = nn.GroupNorm(4, 4, affine=False).double()(x)
    expected = torch.nn.functional.instance_norm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-14)


def test_one_value_per_sample_gives_beta_and_no_input_gradient() -> None:
    ln = nn.LayerNorm(1).double()
    ln.bias.data[...] = 0.5
    x = np.array([[3.0], [-1.0]])
    np.testing.assert_array_equal(ln(x), [[0.5], [0.5]])
    np.testing.assert_array_equal(ln.backward(np.ones((2, 1))), np.zeros((2, 1)))


# ----------------------------------------------------------------------------- errors


def test_wrong_channel_count_names_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3, .*expected input of shape "
                       r"\(N, 3, H, W\), got \(2, 4, 5, 5\)"):  # fmt: skip
        nn.BatchNorm2d(3)(np.ones((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(N, 3, L\), got \(2, 4\)"):
        nn.BatchNorm1d(3)(np.ones((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4, .*\(N, 4, \*\), got \(2, 6, 3\)"):
        nn.GroupNorm(2, 4)(np.ones((2, 6, 3), dtype=np.float32))


@pytest.mark.parametrize(
    ("cls", "shape"),
    [(nn.BatchNorm1d, (2, 3, 4, 5)), (nn.BatchNorm1d, (3,)), (nn.BatchNorm2d, (2, 3, 4))],
)
def test_wrong_dimensionality_is_rejected(cls: type[nn.Module], shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=rf"{cls.__name__}\(3, .*got {re.escape(str(shape))}"):
        cls(3)(np.ones(shape, dtype=np.float32))


def test_a_batch_of_one_in_training_is_rejected_like_torch() -> None:
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3, 1, 1\)"):
        nn.BatchNorm2d(3)(np.ones((1, 3, 1, 1), dtype=np.float32))
    nn.BatchNorm1d(3)(np.ones((1, 3, 2), dtype=np.float32))  # two positions: fine
    with pytest.raises(ValueError, match="more than 1 value per group"):
        nn.GroupNorm(3, 3)(np.ones((1, 3), dtype=np.float32))


def test_normalized_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ValueError, match=r"LayerNorm\(\(4, 5\), .*\(\*, 4, 5\), got \(2, 5, 4\)"):
        nn.LayerNorm((4, 5))(np.ones((2, 5, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(\*, 4, 5\), got \(5,\)"):
        nn.LayerNorm((4, 5))(np.ones(5, dtype=np.float32))


@pytest.mark.parametrize("sizes", [(0, 4), (2, 0), (-2, 4)])
def test_group_norm_refuses_non_positive_sizes(sizes: tuple[int, int]) -> None:
    """Stricter than torch, which takes (2, 0) and (-2, 4) and divides by zero on (0, 4)
    (the mutation run: the check's ``or`` as ``and`` survived)."""
    with pytest.raises(ValueError, match=r"must be positive, got \(-?\d, \d\)"):
        nn.GroupNorm(*sizes)


def test_group_norm_of_one_channel_in_one_group_as_torch() -> None:
    """The smallest valid sizes (the mutation run: ``< 1`` as ``<= 1`` survived)."""
    torch = _torch()
    x = np.random.default_rng(0).standard_normal((2, 1, 5))
    theirs = torch.nn.GroupNorm(1, 1).double()(torch.from_numpy(x)).detach()
    np.testing.assert_allclose(nn.GroupNorm(1, 1).double()(x), theirs, rtol=1e-12)


def test_group_count_must_divide_the_channels() -> None:
    with pytest.raises(
        ValueError, match=r"num_channels \(6\) must be divisible by num_groups \(4\)"
    ):
        nn.GroupNorm(4, 6)


def test_dtype_mismatch_and_integer_input_are_rejected() -> None:
    with pytest.raises(
        TypeError, match=r"BatchNorm1d\(2, .*float64 but the parameters are float32"
    ):
        nn.BatchNorm1d(2)(np.ones((3, 2)))
    with pytest.raises(TypeError, match=r"LayerNorm\(\(2,\), .*floating-point input"):
        nn.LayerNorm(2)(np.ones((3, 2), dtype=np.int64))


def test_eps_must_be_positive_for_batch_statistics() -> None:
    with pytest.raises(ValueError, match="eps must be positive when training"):
        nn.BatchNorm1d(2, eps=0.0)(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="eps must be non-negative"):
        nn.BatchNorm1d(2, eps=-1.0)


@pytest.mark.parametrize(
    "module",
    [
        nn.BatchNorm1d(3, momentum=None, affine=False),
        nn.BatchNorm2d(4, eps=1e-3, track_running_stats=False, bias=False),
        nn.LayerNorm((2, 3), elementwise_affine=True, bias=False),
        nn.GroupNorm(2, 4, eps=0.1),
    ],
    ids=repr,
)
def test_round_trip_through_torch_keeps_options_and_state(module: nn.Module) -> None:
    _torch()
    from refnet.interop.torch import from_torch, to_torch

    theirs = to_torch(module)
    assert repr(theirs) == repr(module)
    back = from_torch(theirs)
    assert repr(back) == repr(module)
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


def test_a_constant_channel_gives_beta_and_finite_gradients() -> None:
    bn = nn.BatchNorm2d(2)
    bn.bias.data[...] = [0.5, -0.5]
    x = np.full((4, 2, 3, 3), 7.3, dtype=np.float32)
    np.testing.assert_array_equal(
        bn(x), np.broadcast_to(np.float32([0.5, -0.5])[:, None, None], x.shape)
    )
    grad = bn.backward(np.random.default_rng(0).standard_normal(x.shape).astype(np.float32))
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: nn.BatchNorm1d(3), (0, 3)),
        (lambda: nn.BatchNorm2d(3), (0, 3, 4, 4)),
        (lambda: nn.GroupNorm(1, 3), (0, 3, 5)),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_an_empty_batch_passes_through_as_in_torch(
    make: Any, shape: tuple[int, ...], training: bool
) -> None:
    """A batch of 0 gives an empty output and an empty gradient (it was a reshape error);
    in training, batch norm counts it as a batch and leaves its statistics, as torch."""
    layer = make().train(training)
    y = layer(np.zeros(shape, dtype=np.float32))
    assert y.shape == shape
    grad = layer.backward(np.zeros(shape, dtype=np.float32))
    assert grad.shape == shape
    assert all(not p.grad.any() for p in layer.parameters())
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
        assert int(layer.num_batches_tracked) == int(training)
        np.testing.assert_array_equal(layer.running_mean, 0)
        np.testing.assert_array_equal(layer.running_var, 1)
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, type(layer).__name__)(
        *([1, 3] if "Group" in type(layer).__name__ else [3])
    )
    theirs.train(training)
    assert tuple(theirs(torch.zeros(shape)).shape) == shape
    if hasattr(theirs, "num_batches_tracked"):
        assert int(theirs.num_batches_tracked) == int(layer.num_batches_tracked)
