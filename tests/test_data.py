"""Datasets, random_split and the DataLoader: batching, shuffling, determinism, resuming."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import refnet
from refnet.data import (
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def indexed(n: int) -> TensorDataset:
    """Inputs ``(n, 2)`` whose first column is the sample index, labels ``i % 3``."""
    inputs = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    return TensorDataset(inputs, np.arange(n) % 3)


def sample_ids(batches: list[Any]) -> list[list[int]]:
    """The sample indices in each batch of an ``indexed`` dataset."""
    return [batch[0][:, 0].astype(int).tolist() for batch in batches]


def epochs(loader: DataLoader, count: int) -> list[list[list[int]]]:
    return [sample_ids(list(loader)) for _ in range(count)]


# ---------------------------------------------------------------------- datasets


def test_tensor_dataset() -> None:
    x, y = np.arange(12.0).reshape(4, 3), np.array([3, 1, 4, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    item = ds[2]
    assert isinstance(item, tuple) and len(item) == 2
    np.testing.assert_array_equal(item[0], x[2])
    assert item[1] == 4
    batch = ds.get_batch(np.array([3, 0]))
    np.testing.assert_array_equal(batch[0], x[[3, 0]])
    np.testing.assert_array_equal(batch[1], y[[3, 0]])


def test_tensor_dataset_errors() -> None:
    with pytest.raises(ValueError, match=r"same first dimension.*\(4, 3\), \(5,\)"):
        TensorDataset(np.zeros((4, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="0-dimensional"):
        TensorDataset(np.zeros(3), np.float32(1))
    with pytest.raises(ValueError, match="at least one array"):
        TensorDataset()


def test_dataset_is_abstract() -> None:
    with pytest.raises(TypeError):
        Dataset()  # type: ignore[abstract]


def test_subset() -> None:
    ds = indexed(10)
    sub = Subset(ds, [7, 2, 2, 9])
    assert len(sub) == 4
    assert sub[0][0][0] == 7
    assert sample_ids([sub.get_batch(np.array([3, 1]))]) == [[9, 2]]
    nested = Subset(sub, [3, 0])
    assert sample_ids([nested.get_batch(np.arange(2))]) == [[9, 7]]
    assert len(Subset(ds, [])) == 0


def test_subset_errors() -> None:
    with pytest.raises(IndexError, match=r"\[0, 10\).*from 3 to 10"):
        Subset(indexed(10), [3, 10])
    with pytest.raises(IndexError):
        Subset(indexed(10), [-1])
    with pytest.raises(TypeError, match="integers"):
        Subset(indexed(10), [0.5])


def test_default_collate() -> None:
    x, y, w = default_collate([(np.zeros((2, 2)), 1, 0.5), (np.ones((2, 2)), 2, 1.5)])
    assert x.shape == (2, 2, 2)
    assert y.dtype == np.int64 and w.dtype == np.float64
    assert default_collate([np.zeros(3), np.ones(3)]).shape == (2, 3)
    with pytest.raises(ValueError, match=r"field 0 have different shapes"):
        default_collate([(np.zeros(2), 1), (np.zeros(3), 1)])
    with pytest.raises(ValueError, match="tuple of 2 fields"):
        default_collate([(np.zeros(2), 1), (np.zeros(2),)])


# ---------------------------------------------------------------------- random_split


def test_random_split_partitions() -> None:
    ds = indexed(10)
    parts = random_split(ds, [3, 7], generator=0)
    assert [len(p) for p in parts] == [3, 7]
    ids = sorted(int(i) for p in parts for i in p.indices)
    assert ids == list(range(10))
    again = random_split(ds, [3, 7], generator=0)
    assert all(np.array_equal(a.indices, b.indices) for a, b in zip(parts, again, strict=True))
    other = random_split(ds, [3, 7], generator=1)
    assert not np.array_equal(parts[1].indices, other[1].indices)


def test_random_split_fractions() -> None:
    assert [len(p) for p in random_split(indexed(10), [0.3, 0.3, 0.4], generator=0)] == [3, 3, 4]
    # floor each, then the remainder round robin from the first split (PyTorch's rule)
    assert [len(p) for p in random_split(indexed(11), [0.5, 0.5], generator=0)] == [6, 5]
    assert [len(p) for p in random_split(indexed(8226), [0.85, 0.15], generator=0)] == [
        6993,
        1233,
    ]
    with pytest.warns(UserWarning, match="split 1 is empty"):
        random_split(indexed(2), [0.9, 0.1], generator=0)


@given(n=st.integers(0, 200), weights=st.lists(st.integers(0, 9), min_size=1, max_size=5))
def test_random_split_lengths_match_torch(n: int, weights: list[int]) -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    total = sum(weights)
    fractions = [w / total for w in weights] if total else [1.0]
    # torch takes fractions only if their float sum is <= 1 (else it reads them as
    # lengths and raises): [0.2, 0.4, 0.3, 0.1] sums to 1.0000000000000002. Compare there.
    assume(sum(fractions) <= 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty splits warn in both
        ours = [len(p) for p in random_split(indexed(n), fractions, generator=0)]
        theirs = [len(p) for p in torch_data.random_split(range(n), fractions)]
    assert ours == theirs


def test_random_split_errors() -> None:
    with pytest.raises(ValueError, match="sum to the dataset's length 10"):
        random_split(indexed(10), [3, 6])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(indexed(10), [0.5, 0.6])
    with pytest.raises(ValueError, match="lie in"):
        random_split(indexed(10), [1.5, -0.5])


# ---------------------------------------------------------------------- batching


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last", "sizes"),
    [
        (10, 4, False, [4, 4, 2]),
        (10, 4, True, [4, 4]),
        (8, 4, False, [4, 4]),
        (8, 4, True, [4, 4]),
        (3, 5, False, [3]),
        (3, 5, True, []),
        (0, 2, False, []),
        (5, 1, False, [1] * 5),
    ],
)
def test_batch_sizes(n: int, batch_size: int, drop_last: bool, sizes: list[int]) -> None:
    loader = DataLoader(indexed(n), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == sizes
    assert len(loader) == len(sizes)


def test_batches_are_stacked_arrays_in_order() -> None:
    ds = indexed(7)
    inputs, labels = next(iter(DataLoader(ds, batch_size=3)))
    assert isinstance(inputs, np.ndarray) and inputs.dtype == np.float32
    assert inputs.shape == (3, 2) and labels.shape == (3,) and labels.dtype == np.int64
    assert sample_ids(list(DataLoader(ds, batch_size=3))) == [[0, 1, 2], [3, 4, 5], [6]]


def test_single_field_dataset_gives_one_tuple() -> None:
    batch = next(iter(DataLoader(TensorDataset(np.arange(5)), batch_size=2)))
    assert isinstance(batch, tuple) and len(batch) == 1
    np.testing.assert_array_equal(batch[0], [0, 1])


def test_batch_size_validation() -> None:
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            DataLoader(indexed(3), batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(indexed(3), transform=3)  # type: ignore[arg-type]


def _refuse_getitem(monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
    def refuse(self: Any, index: int) -> Any:
        raise AssertionError("the fast path must not index sample by sample")

    monkeypatch.setattr(cls, "__getitem__", refuse)


def test_fast_path_indexes_arrays_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = indexed(50)
    subset = Subset(Subset(ds, np.arange(40)[::-1]), np.arange(0, 40, 2))
    _refuse_getitem(monkeypatch, TensorDataset)
    _refuse_getitem(monkeypatch, Subset)
    assert sum(len(b[0]) for b in DataLoader(ds, batch_size=8, shuffle=True, generator=0)) == 50
    assert sample_ids(list(DataLoader(subset, batch_size=4)))[0] == [39, 37, 35, 33]


class ListBacked(Dataset):
    """A dataset without ``get_batch``: the loader falls back to ``self[i]``."""

    def __init__(self, n: int) -> None:
        self.items = [(np.full(2, float(i)), i) for i in range(n)]

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)


def test_slow_path_for_plain_datasets_and_lists() -> None:
    for data in (ListBacked(5), [(np.full(2, float(i)), i) for i in range(5)]):
        inputs, labels = list(DataLoader(data, batch_size=2))[1]
        np.testing.assert_array_equal(inputs, [[2.0, 2.0], [3.0, 3.0]])
        np.testing.assert_array_equal(labels, [2, 3])
    # a Subset of a plain list works too
    only_odd = Subset([(np.zeros(1), i) for i in range(6)], [1, 3, 5])  # type: ignore[arg-type]
    assert next(iter(DataLoader(only_odd, batch_size=3)))[1].tolist() == [1, 3, 5]


# ---------------------------------------------------------------------- transform


def test_transform_is_applied_per_batch_to_inputs_only() -> None:
    calls: list[tuple[int, ...]] = []

    def scale(x: np.ndarray) -> np.ndarray:
        calls.append(x.shape)
        return x * 10

    loader = DataLoader(indexed(5), batch_size=2, transform=scale)
    batches = list(loader)
    assert calls == [(2, 2), (2, 2), (1, 2)]
    np.testing.assert_array_equal(batches[1][0][:, 0], [20, 30])
    np.testing.assert_array_equal(batches[1][1], [2, 0])  # labels untouched
    single = DataLoader(TensorDataset(np.arange(3.0)), batch_size=3, transform=lambda x: -x)
    np.testing.assert_array_equal(next(iter(single))[0], [0, -1, -2])
    plain = DataLoader([np.ones(2)] * 3, batch_size=3, transform=lambda x: x.sum(axis=1))
    np.testing.assert_array_equal(next(iter(plain)), [2, 2, 2])


# ---------------------------------------------------------------------- shuffling


def test_shuffle_visits_every_sample_once_per_epoch() -> None:
    loader = DataLoader(indexed(23), batch_size=5, shuffle=True, generator=3)
    seen = epochs(loader, 3)
    for epoch in seen:
        assert sorted(i for batch in epoch for i in batch) == list(range(23))
    assert seen[0] != seen[1] != seen[2]  # a new permutation each epoch
    assert seen[0] != epochs(DataLoader(indexed(23), batch_size=5), 1)[0]


def test_same_seed_same_epochs() -> None:
    def run(seed: Any) -> list[list[list[int]]]:
        return epochs(DataLoader(indexed(30), batch_size=4, shuffle=True, generator=seed), 3)

    assert run(7) == run(7)
    assert run(np.random.default_rng(7)) == run(7)
    assert run(7) != run(8)


def test_generator_none_uses_refnet_default_at_iteration_time() -> None:
    loader = DataLoader(indexed(30), batch_size=30, shuffle=True)
    refnet.manual_seed(5)  # after building the loader, as torch.manual_seed would
    first = epochs(loader, 2)
    refnet.manual_seed(5)
    assert epochs(loader, 2) == first


def test_abandoned_epoch_then_new_epoch() -> None:
    """As in PyTorch, every iter() starts a new epoch, even if the last one was cut short."""
    reference = DataLoader(indexed(12), batch_size=4, shuffle=True, generator=0)
    expected = epochs(reference, 2)
    loader = DataLoader(indexed(12), batch_size=4, shuffle=True, generator=0)
    next(iter(loader))
    assert sample_ids(list(loader)) == expected[1]


# ---------------------------------------------------------------------- resuming


def _train_like(loader: DataLoader, rng: np.random.Generator, batches: int) -> list[Any]:
    """Consume ``batches`` batches across epochs; draw from ``rng`` per batch like dropout."""
    record: list[Any] = []
    while len(record) < batches:
        for batch in loader:
            record.append((batch[0][:, 0].astype(int).tolist(), float(rng.random())))
            if len(record) == batches:
                return record
    return record


@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 8),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_resume_reproduces_uninterrupted_run(
    tmp_path_factory: pytest.TempPathFactory,
    n: int,
    batch_size: int,
    drop_last: bool,
    shuffle: bool,
    seed: int,
    data: st.DataObject,
) -> None:
    """Stop after any batch (mid-epoch or at an epoch's end), checkpoint to disk, resume.

    The generator is shared with the 'model' (a dropout-like draw per batch), as it would
    be when one seed drives a whole run: restoring a shuffling loader restores it too.
    """
    ds = indexed(n)
    per_epoch = (n // batch_size) if drop_last else math.ceil(n / batch_size)
    if per_epoch == 0:
        return
    total = 3 * per_epoch
    stop = data.draw(st.integers(1, total - 1), label="stop")

    def make(rng_seed: int) -> tuple[DataLoader, np.random.Generator]:
        rng = np.random.default_rng(rng_seed)
        kwargs = {"batch_size": batch_size, "drop_last": drop_last, "shuffle": shuffle}
        return DataLoader(ds, generator=rng, **kwargs), rng  # type: ignore[arg-type]

    loader, rng = make(seed)
    uninterrupted = _train_like(loader, rng, total)

    loader, rng = make(seed)
    first = _train_like(loader, rng, stop)
    path = tmp_path_factory.mktemp("ckpt") / "loader.npz"
    refnet.save({"loader": loader.state_dict(), "rng": rng.bit_generator.state}, path)

    resumed_loader, resumed_rng = make(seed + 1)  # a fresh process, another seed even
    checkpoint = refnet.load(path)
    resumed_loader.load_state_dict(checkpoint["loader"])
    if not shuffle:
        # A loader that does not shuffle draws nothing and keeps no generator state.
        resumed_rng.bit_generator.state = checkpoint["rng"]
    rest = _train_like(resumed_loader, resumed_rng, total - stop)
    assert first + rest == uninterrupted


def test_state_dict_between_and_within_epochs() -> None:
    loader = DataLoader(indexed(10), batch_size=4, shuffle=True, generator=0)
    state = loader.state_dict()
    assert state["order"] is None and state["position"] == 0
    assert state["generator"]["bit_generator"] == "PCG64"
    iterator = iter(loader)
    next(iterator)
    mid = loader.state_dict()
    assert mid["position"] == 1 and sorted(mid["order"].tolist()) == list(range(10))
    list(iterator)
    assert loader.state_dict()["position"] == 0 and loader.state_dict()["order"] is None
    unshuffled = DataLoader(indexed(10), batch_size=4)
    assert unshuffled.state_dict() == {"generator": None, "order": None, "position": 0}


def test_resume_unshuffled_mid_epoch() -> None:
    loader = DataLoader(indexed(10), batch_size=3)
    iterator = iter(loader)
    next(iterator)
    fresh = DataLoader(indexed(10), batch_size=3)
    fresh.load_state_dict(loader.state_dict())
    assert sample_ids(list(fresh)) == [[3, 4, 5], [6, 7, 8], [9]]
    assert sample_ids(list(fresh))[0] == [0, 1, 2]


def test_resume_with_default_generator() -> None:
    refnet.manual_seed(11)
    loader = DataLoader(indexed(9), batch_size=3, shuffle=True)
    list(loader)
    state = loader.state_dict()
    expected = epochs(loader, 2)
    refnet.manual_seed(999)
    fresh = DataLoader(indexed(9), batch_size=3, shuffle=True)
    fresh.load_state_dict(state)
    assert epochs(fresh, 2) == expected


def test_load_state_dict_errors() -> None:
    source = DataLoader(indexed(10), batch_size=4, shuffle=True, generator=0)
    iterator = iter(source)
    next(iterator)
    state = source.state_dict()
    with pytest.raises(ValueError, match="permutation of the 11 sample indices"):
        DataLoader(indexed(11), batch_size=4, shuffle=True).load_state_dict(state)
    with pytest.raises(ValueError, match="shuffle=False"):
        DataLoader(indexed(10), batch_size=4).load_state_dict(state)
    with pytest.raises(ValueError, match="expected keys"):
        DataLoader(indexed(10), batch_size=4, shuffle=True).load_state_dict({"position": 0})
    with pytest.raises(ValueError, match="position 3 is not a batch index"):
        DataLoader(indexed(10), batch_size=4, shuffle=True).load_state_dict(
            {**state, "position": 3}
        )
    mt = DataLoader(
        indexed(10), batch_size=4, shuffle=True, generator=np.random.Generator(np.random.MT19937(0))
    )
    with pytest.raises(ValueError, match="MT19937"):
        mt.load_state_dict(state)


def test_other_bit_generators_round_trip_through_save(tmp_path: Path) -> None:
    """MT19937's state holds an array: it must survive refnet.save too."""
    make = lambda: DataLoader(  # noqa: E731
        indexed(10), batch_size=4, shuffle=True, generator=np.random.Generator(np.random.MT19937(3))
    )
    loader = make()
    list(loader)
    refnet.save(loader.state_dict(), tmp_path / "s.npz")
    expected = epochs(loader, 2)
    fresh = make()
    fresh.load_state_dict(refnet.load(tmp_path / "s.npz"))
    assert epochs(fresh, 2) == expected
