"""The IDX reader and writer: every dtype, gzip and raw, and every way a file can be wrong."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refnet.data import read_idx, write_idx

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C}


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("dtype", IDX_DTYPES, ids=lambda d: np.dtype(d).name)
def test_round_trip_each_dtype(tmp_path: Path, dtype: type, compress: bool) -> None:
    values = (np.arange(2 * 3 * 4) - 7).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / "values-idx3"
    write_idx(path, values, compress=compress)
    assert path.read_bytes().startswith(b"\x1f\x8b") == compress
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    assert loaded.shape == (2, 3, 4)
    np.testing.assert_array_equal(loaded, values)
    loaded[0, 0, 0] = 1  # a writeable copy, not a view of the file's bytes


@given(
    values=hnp.arrays(
        dtype=st.sampled_from(IDX_DTYPES),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4),
        elements={"allow_nan": True},
    ),
    compress=st.booleans(),
    big_endian=st.booleans(),
)
def test_round_trip_property(
    tmp_path_factory: pytest.TempPathFactory, values: np.ndarray, compress: bool, big_endian: bool
) -> None:
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    source = values.astype(values.dtype.newbyteorder(">")) if big_endian else values
    write_idx(path, source, compress=compress)
    loaded = read_idx(path)
    assert loaded.dtype == values.dtype and loaded.shape == values.shape
    assert loaded.tobytes() == values.tobytes()  # bit for bit, NaN payloads included


def test_known_bytes(tmp_path: Path) -> None:
    """The header layout of the format description, byte by byte."""
    path = tmp_path / "labels"
    write_idx(path, np.array([1, 2, 3], dtype=np.uint8))
    assert path.read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03"
    # A hand-made big-endian int32 matrix of shape (2, 1): 258 and -1.
    path.write_bytes(
        b"\x00\x00\x0c\x02"
        + b"\x00\x00\x00\x02\x00\x00\x00\x01"
        + b"\x00\x00\x01\x02\xff\xff\xff\xff"
    )
    np.testing.assert_array_equal(read_idx(path), np.array([[258], [-1]], dtype=np.int32))


@pytest.mark.parametrize("dtype", sorted(CODES, key=CODES.get), ids=lambda d: np.dtype(d).name)
def test_dtype_codes(tmp_path: Path, dtype: type) -> None:
    path = tmp_path / "x"
    write_idx(path, np.zeros(1, dtype))
    assert path.read_bytes()[2] == CODES[dtype]


def test_compression_detected_by_content_not_name(tmp_path: Path) -> None:
    values = np.arange(6, dtype=np.uint8).reshape(2, 3)
    gz_named_raw, raw_named_gz = tmp_path / "a.gz", tmp_path / "b-idx2-ubyte"
    write_idx(gz_named_raw, values, compress=False)
    write_idx(raw_named_gz, values, compress=True)
    np.testing.assert_array_equal(read_idx(gz_named_raw), values)
    np.testing.assert_array_equal(read_idx(raw_named_gz), values)
    write_idx(tmp_path / "c.gz", values)  # compress=None: by the name
    assert (tmp_path / "c.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    values = np.arange(100, dtype=np.int16)
    write_idx(tmp_path / "a.gz", values)
    write_idx(tmp_path / "b.gz", values)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz", "b.gz"]  # no temp files


# ---------------------------------------------------------------------- bad files


def _images(tmp_path: Path, compress: bool) -> tuple[Path, bytes]:
    """A (5, 4, 4) uint8 image file and its uncompressed content."""
    path = tmp_path / ("images.gz" if compress else "images")
    write_idx(path, np.arange(80, dtype=np.uint8).reshape(5, 4, 4), compress=compress)
    content = gzip.decompress(path.read_bytes()) if compress else path.read_bytes()
    return path, content


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_truncated_data(tmp_path: Path, compress: bool) -> None:
    path, content = _images(tmp_path, compress)
    path.write_bytes(gzip.compress(content[:-1]) if compress else content[:-1])
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "96 bytes" in message and "95" in message
    assert "(5, 4, 4)" in message


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
def test_trailing_bytes(tmp_path: Path, compress: bool) -> None:
    path, content = _images(tmp_path, compress)
    longer = content + b"\x00\x00\x00"
    path.write_bytes(gzip.compress(longer) if compress else longer)
    with pytest.raises(ValueError, match="trailing bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "96" in str(info.value) and "99" in str(info.value)


def test_wrong_length_in_header(tmp_path: Path) -> None:
    """The header claims 6 images where the data holds 5."""
    path, content = _images(tmp_path, compress=False)
    path.write_bytes(content[:4] + b"\x00\x00\x00\x06" + content[8:])
    with pytest.raises(ValueError, match=r"wrong IDX length.*\(6, 4, 4\).*112 bytes.*has 96"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    path, _ = _images(tmp_path, compress=True)
    path.write_bytes(path.read_bytes()[:-10])  # cut into the stream and its trailer
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_garbage_after_gzip_stream(tmp_path: Path) -> None:
    path, _ = _images(tmp_path, compress=True)
    path.write_bytes(path.read_bytes() + b"not gzip")
    with pytest.raises(ValueError, match=str(path)):
        read_idx(path)


@pytest.mark.parametrize(
    ("header", "pattern"),
    [
        (b"\x08\x03\x00\x00", "does not start with two zero bytes"),
        (b"\x00\x01\x08\x01", "does not start with two zero bytes"),
        (b"PK\x03\x04", "does not start with two zero bytes"),
        (b"\x00\x00\x0a\x01", "unknown IDX dtype code 0x0A"),
        (b"\x00\x00\x07\x01", "unknown IDX dtype code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x05", "truncated IDX header: 3 dimensions need 16"),
        (b"\x00\x00", "shorter than the 4-byte magic number"),
        (b"", "has 0 bytes"),
    ],
)
def test_bad_headers(tmp_path: Path, header: bytes, pattern: str) -> None:
    path = tmp_path / "bad-idx"
    path.write_bytes(header)
    with pytest.raises(ValueError, match=pattern) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


@pytest.mark.parametrize(
    ("values", "error", "pattern"),
    [
        (np.zeros(3, np.int64), TypeError, "cannot store dtype int64"),
        (np.zeros(3, np.uint16), TypeError, "cannot store dtype uint16"),
        (np.zeros(3, bool), TypeError, "cannot store dtype bool"),
        (np.array(3, np.uint8), ValueError, "1 to 255 dimensions"),
    ],
)
def test_write_rejects(tmp_path: Path, values: np.ndarray, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        write_idx(tmp_path / "x", values)
    assert list(tmp_path.iterdir()) == []
