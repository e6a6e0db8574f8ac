"""refnet.save / refnet.load: exact round trips, no pickle, clear errors, atomic writes."""

from __future__ import annotations

import json
import math
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refnet
import refnet.nn as nn
from refnet import serialization

DTYPES = [
    np.bool_,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
    np.complex128,
]


def assert_identical(a: Any, b: Any, where: str = "obj") -> None:
    """Equal values of exactly the same types, all the way down (NaN equals NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), where
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        ), where
    elif isinstance(a, dict):
        assert [(type(k), k) for k in a] == [(type(k), k) for k in b], where
        for key in a:
            assert_identical(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def round_trip(obj: Any, path: Path, **kwargs: Any) -> Any:
    refnet.save(obj, path, **kwargs)
    return refnet.load(path)


# ---------------------------------------------------------------------- round trips

arrays = hnp.arrays(
    dtype=st.sampled_from(DTYPES),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
)
scalars = (
    st.sampled_from(DTYPES)
    .flatmap(lambda d: hnp.from_dtype(np.dtype(d)))
    .map(lambda v: v if isinstance(v, np.generic) else np.dtype(type(v)).type(v))
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**200), 2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    arrays,
    st.sampled_from(DTYPES).flatmap(lambda d: hnp.arrays(np.dtype(d), ())).map(lambda a: a[()]),
)
keys = st.one_of(st.text(max_size=8), st.integers(-(2**70), 2**70))
structures = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)


@given(obj=structures, compress=st.booleans())
def test_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, obj: Any, compress: bool
) -> None:
    path = tmp_path_factory.mktemp("ser") / "obj.npz"
    assert_identical(round_trip(obj, path, compress=compress), obj)


def test_optimizer_and_module_state_dicts(tmp_path: Path) -> None:
    optimizer_state = {
        "state": {
            0: {"momentum_buffer": np.arange(6, dtype=np.float32).reshape(2, 3)},
            1: {"step": np.array(3.0, dtype=np.float32), "exp_avg": np.zeros(3)},
        },
        "param_groups": [
            {
                "lr": 0.1,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "maximize": False,
                "foreach": None,
                "params": [0, 1],
            }
        ],
    }
    checkpoint = {
        "epoch": 7,
        "model": nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).state_dict(),
        "optimizer": optimizer_state,
        "metrics": [{"loss": 0.5, "acc": 0.875}],
        "generator": np.random.default_rng(0).bit_generator.state,  # 128-bit ints
    }
    loaded = round_trip(checkpoint, tmp_path / "checkpoint.npz")
    assert_identical(loaded, checkpoint)
    assert list(loaded["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_edge_values(tmp_path: Path) -> None:
    obj = [
        -0.0,
        float("nan"),
        float("-inf"),
        2**1000,
        -(2**64),
        "",
        "naïve ✓ \x00 \"quoted\" {'t': 'array'}",
        {"t": "array", "key": "a0"},  # a user dict that looks like an internal node
        np.array(5, dtype=np.uint64),
        np.float16(1.5),
        np.bool_(True),
        np.zeros((0, 3), dtype=np.float32),
        np.arange(6, dtype=">i4").reshape(2, 3),  # non-native byte order
        np.arange(12.0).reshape(3, 4)[:, ::2],  # non-contiguous
        {},
        [],
        (),
        ((),),
    ]
    assert_identical(round_trip(obj, tmp_path / "edge.npz"), obj)


def test_top_level_array_and_scalars(tmp_path: Path) -> None:
    for obj in (np.eye(3), 3, 2.5, None, "text", True, np.int32(-4)):
        assert_identical(round_trip(obj, tmp_path / "x.npz"), obj)


def test_path_used_as_given(tmp_path: Path) -> None:
    refnet.save({"a": 1}, tmp_path / "checkpoint")
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]
    assert refnet.load(str(tmp_path / "checkpoint")) == {"a": 1}


def test_file_is_a_plain_npz(tmp_path: Path) -> None:
    """Readable by NumPy alone: the arrays, and the structure as JSON."""
    refnet.save({"w": np.ones(2), "lr": 0.1}, tmp_path / "x.npz")
    with np.load(tmp_path / "x.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["__refnet__", "a0"]
        document = json.loads(archive["__refnet__"].tobytes())
    assert document["format"] == "refnet" and document["version"] == 1


# ---------------------------------------------------------------------- models


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_model_round_trip_end_to_end(tmp_path: Path) -> None:
    refnet.manual_seed(0)
    model = _model()
    refnet.save(model.state_dict(), tmp_path / "model.npz")
    refnet.manual_seed(1)
    fresh = _model()
    fresh.load_state_dict(refnet.load(tmp_path / "model.npz"))
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x), model(x))


def test_model_missing_key_end_to_end(tmp_path: Path) -> None:
    state = _model().state_dict()
    del state["2.bias"]
    refnet.save(state, tmp_path / "model.npz")
    with pytest.raises(ValueError, match=r"missing key\(s\): 2.bias"):
        _model().load_state_dict(refnet.load(tmp_path / "model.npz"))


def test_model_wrong_shape_end_to_end(tmp_path: Path) -> None:
    refnet.save(nn.Sequential(nn.Linear(5, 3)).state_dict(), tmp_path / "model.npz")
    with pytest.raises(ValueError, match=r"size mismatch for 0.weight.*\(3, 5\).*\(3, 4\)"):
        nn.Sequential(nn.Linear(4, 3)).load_state_dict(refnet.load(tmp_path / "model.npz"))


# ---------------------------------------------------------------------- unsupported objects


@pytest.mark.parametrize(
    ("obj", "where", "what"),
    [
        (
            {"optimizer": {"param_groups": [{"lr": 0.1, "lr_lambda": lambda epoch: 0.9}]}},
            "obj['optimizer']['param_groups'][0]['lr_lambda']",
            "function",
        ),
        ({"a": [1, {2}]}, "obj['a'][1]", "builtins.set"),
        ({"model": nn.Linear(2, 2)}, "obj['model']", "Linear"),
        ({1.5: 2}, "obj", "key 1.5"),
        ({(1, 2): 2}, "obj", "key (1, 2)"),
        ({"x": np.array([None], dtype=object)}, "obj['x']", "dtype object"),
        ({"x": np.array(["a"])}, "obj['x']", "dtype <U1"),
        ({"x": np.ma.masked_array([1, 2])}, "obj['x']", "MaskedArray"),
        ({"x": nn.Parameter(np.ones(2))}, "obj['x']", "Parameter"),
        ([b"bytes"], "obj[0]", "bytes"),
        ({0: {"p": np.datetime64("2024-01-01")}}, "obj[0]['p']", "datetime64"),
    ],
)
def test_unsupported_objects(tmp_path: Path, obj: Any, where: str, what: str) -> None:
    with pytest.raises(TypeError) as info:
        refnet.save(obj, tmp_path / "x.npz")
    message = str(info.value)
    assert message.startswith(where + ":") and what in message, message
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_self_containing_structure(tmp_path: Path) -> None:
    loop: list[Any] = [1]
    loop.append({"again": loop})
    with pytest.raises(TypeError, match=r"obj\[1\]\['again'\]: .*contains itself"):
        refnet.save(loop, tmp_path / "x.npz")
    shared = np.ones(2)
    assert len(round_trip([shared, shared, (shared,)], tmp_path / "ok.npz")) == 3  # not a cycle


# ---------------------------------------------------------------------- no pickle


class _Exploit:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.target,))


def test_pickle_file_is_refused_without_running_code(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"weights": _Exploit(str(sentinel))}))
    with pytest.raises(ValueError, match=str(path)):
        refnet.load(path)
    assert not sentinel.exists()


def test_object_array_member_is_refused_without_running_code(tmp_path: Path) -> None:
    """A well-formed refnet archive whose array member is a pickled object array."""
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    refnet.save({"w": np.ones(2)}, path)
    with np.load(path) as archive:
        structure = archive["__refnet__"]
    evil = np.array([_Exploit(str(sentinel))], dtype=object)
    np.savez(path, __refnet__=structure, a0=evil)  # np.savez pickles object arrays
    with pytest.raises(ValueError, match="pickled") as info:
        refnet.load(path)
    assert str(path) in str(info.value)
    assert not sentinel.exists()


# ---------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "absent.npz")):
        refnet.load(tmp_path / "absent.npz")


def test_truncated_files(tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    refnet.save({"w": np.arange(1000.0), "b": np.ones(3)}, path)
    content = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for size in (0, 1, 10, 100, len(content) // 2, len(content) - 30, len(content) - 1):
        cut.write_bytes(content[:size])
        with pytest.raises(ValueError, match=str(cut)):
            refnet.load(cut)


def test_corrupt_bytes(tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    refnet.save({"w": np.arange(1000.0)}, path)
    content = bytearray(path.read_bytes())
    content[len(content) // 3] ^= 0xFF  # inside the array data: the zip CRC catches it
    path.write_bytes(bytes(content))
    with pytest.raises(ValueError, match=str(path)):
        refnet.load(path)
    path.write_bytes(b"definitely not an archive")
    with pytest.raises(ValueError, match=str(path)):
        refnet.load(path)


def test_other_numpy_files(tmp_path: Path) -> None:
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    with pytest.raises(ValueError, match=r"plain.npz.*without the '__refnet__' member"):
        refnet.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match=r"single.npy.*single .npy array"):
        refnet.load(tmp_path / "single.npy")


def _with_document(path: Path, document: Any, **arrays: Any) -> None:
    raw = json.dumps(document).encode()
    np.savez(path, __refnet__=np.frombuffer(raw, np.uint8), **arrays)


@pytest.mark.parametrize(
    ("document", "arrays", "pattern"),
    [
        ({"format": "other", "version": 1, "root": 1}, {}, "format marker"),
        ({"format": "refnet", "version": 99, "root": 1}, {}, "version 99"),
        ({"format": "refnet", "version": 1}, {}, "no root"),
        ({"format": "refnet", "version": 1, "root": {"t": "array", "key": "a1"}}, {}, "a1"),
        ({"format": "refnet", "version": 1, "root": {"t": "eval", "code": "x"}}, {}, "unknown"),
        ({"format": "refnet", "version": 1, "root": None}, {"a0": np.ones(1)}, "unreferenced"),
        (
            {"format": "refnet", "version": 1, "root": {"t": "dict", "items": [[1.5, 2]]}},
            {},
            "malformed dict item",
        ),
    ],
)
def test_malformed_structure(tmp_path: Path, document: Any, arrays: Any, pattern: str) -> None:
    path = tmp_path / "bad.npz"
    _with_document(path, document, **arrays)
    with pytest.raises(ValueError, match=pattern) as info:
        refnet.load(path)
    assert str(path) in str(info.value)


def test_structure_not_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, __refnet__=np.frombuffer(b"{not json", np.uint8))
    with pytest.raises(ValueError, match="not valid JSON"):
        refnet.load(path)
    np.savez(path, __refnet__=np.ones(3))
    with pytest.raises(ValueError, match="not a byte string"):
        refnet.load(path)


# ---------------------------------------------------------------------- atomicity


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_failed_save_keeps_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    path = tmp_path / "checkpoint.npz"
    refnet.save({"epoch": 1, "w": np.ones(1000)}, path)
    real_savez = np.savez

    def savez_then_fail(file: Any, **members: Any) -> None:
        real_savez(file, **members)  # the temporary file is complete here...
        raise error  # ...but the save fails before the rename

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(error)):
        refnet.save({"epoch": 2, "w": np.zeros(1000)}, path)
    monkeypatch.undo()
    assert refnet.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temp file left


def test_save_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.npz"
    refnet.save({"epoch": 1}, path)
    refnet.save({"epoch": 2}, path)
    assert refnet.load(path) == {"epoch": 2}
    assert zipfile.is_zipfile(path)


def test_module_is_exported() -> None:
    assert refnet.save is serialization.save and refnet.load is serialization.load


def test_a_member_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    """Issue 17, item 8: NpzFile returns a non-.npy member as raw bytes."""
    path = tmp_path / "extra.npz"
    refnet.save({"w": np.ones(3)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match=r"not .npy arrays: \['notes.txt'\]"):
        refnet.load(path)


def test_a_member_header_claiming_terabytes_is_a_clear_error(tmp_path: Path) -> None:
    """Issue 17, item 6: a header claiming 8 TB raised a raw MemoryError."""
    path = tmp_path / "huge.npz"
    refnet.save({"w": np.ones(4)}, path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    name = next(n for n in members if n != "__refnet__.npy")
    header = members[name]
    members[name] = header.replace(b"(4,)", b"(1000000000000,)", 1)
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    with pytest.raises(ValueError, match=str(path)):
        refnet.load(path)
