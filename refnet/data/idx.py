"""The IDX file format of MNIST and FashionMNIST: read and write, gzip or raw.

An IDX file is a header followed by the array's elements, row-major, big-endian::

    bytes 0-1   0x00 0x00                      (the magic number's zero half)
    byte  2     dtype code                     0x08 uint8   0x09 int8    0x0B int16
                                               0x0C int32   0x0D float32 0x0E float64
    byte  3     ndim                           (1 for labels, 3 for images)
    4 * ndim    each dimension, a big-endian 32-bit integer
    ...         prod(dims) * itemsize bytes of data, nothing more

The official files are gzip-compressed; :func:`read_idx` tells the two apart by the gzip
magic bytes (``1f 8b``), not by the file name. It checks everything the header promises,
so a truncated download or a file with trailing bytes fails with a ``ValueError`` that
names the file and both sizes instead of producing a silently misshapen array.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from refnet._atomic import atomic_write
from refnet._typing import Array

__all__ = ["read_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

#: IDX dtype code -> element type (big-endian, as stored on disk).
DTYPE_CODES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in DTYPE_CODES.items()}
_MAX_DIM = 2**31 - 1  # readers (torchvision's among them) parse dimensions as signed int32


def read_idx(path: str | os.PathLike[str]) -> Array:
    """Read an IDX file (gzip-compressed or raw) into a native-endian NumPy array.

    Raises ``ValueError`` naming the file for a wrong magic number, an unknown dtype code,
    a truncated header, or a data length different from what the header implies
    (truncated file or trailing bytes); ``FileNotFoundError`` if there is no file.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
    >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
    >>> read_idx(path)
    array([3, 1, 4], dtype=uint8)
    """
    file = Path(path)
    content, compressed = _read_bytes(file)
    what = "decompressed content" if compressed else "file"
    if len(content) < 4:
        raise ValueError(
            f"{file}: not an IDX file: the {what} has {len(content)} bytes, "
            "shorter than the 4-byte magic number"
        )
    if content[0] != 0 or content[1] != 0:
        raise ValueError(
            f"{file}: not an IDX file: the magic number {content[:4].hex(' ')} "
            "does not start with two zero bytes"
        )
    code, ndim = content[2], content[3]
    if code not in DTYPE_CODES:
        known = ", ".join(f"0x{c:02X} ({d.name})" for c, d in DTYPE_CODES.items())
        raise ValueError(f"{file}: unknown IDX dtype code 0x{code:02X}; known codes: {known}")
    if ndim == 0:
        raise ValueError(f"{file}: the IDX header declares 0 dimensions (expected 1 or more)")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(
            f"{file}: truncated IDX header: {ndim} dimensions need {header_size} bytes, "
            f"the {what} has {len(content)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPE_CODES[code]
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(content) != expected:
        problem = "truncated" if len(content) < expected else "trailing bytes"
        raise ValueError(
            f"{file}: wrong IDX length ({problem}): the header (dtype {dtype.name}, shape "
            f"{shape}) implies {expected} bytes, the {what} has {len(content)}"
        )
    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native, writeable copy


def write_idx(path: str | os.PathLike[str], array: Array, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file, atomically (temporary file + ``os.replace``).

    ``compress=None`` gzips when the name ends in ``.gz`` (as the official files are);
    ``True``/``False`` decide explicitly. The dtype must be one IDX can hold: uint8, int8,
    int16, int32, float32 or float64 (any byte order; stored big-endian), with at least one
    dimension. The gzip stream is deterministic (no timestamp), so equal arrays give equal
    files.
    """
    file = Path(path)
    values = np.asarray(array)
    code = _CODE_OF_KIND.get((values.dtype.kind, values.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"write_idx({file}): IDX cannot store dtype {values.dtype}; use uint8, int8, "
            "int16, int32, float32 or float64"
        )
    if values.ndim == 0 or values.ndim > 255:
        raise ValueError(f"write_idx({file}): IDX needs 1 to 255 dimensions, got {values.ndim}")
    if max(values.shape) > _MAX_DIM:
        raise ValueError(f"write_idx({file}): dimension too large for IDX in {values.shape}")
    header = bytes([0, 0, code, values.ndim]) + np.asarray(values.shape, ">u4").tobytes()
    content = header + np.ascontiguousarray(values, dtype=DTYPE_CODES[code]).tobytes()
    if compress is None:
        compress = file.name.endswith(".gz")
    if compress:
        content = gzip.compress(content, mtime=0)
    with atomic_write(file) as out:
        out.write(content)


def _read_bytes(file: Path) -> tuple[bytes, bool]:
    """The file's content, decompressed if it starts with the gzip magic bytes."""
    raw = file.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw, False
    try:
        return gzip.decompress(raw), True
    except (OSError, EOFError, zlib.error) as error:
        # EOFError: the stream ends early (a truncated download); BadGzipFile (an OSError)
        # and zlib.error: corrupt data or a CRC/length mismatch in the trailer.
        raise ValueError(
            f"{file}: corrupt or truncated gzip data ({len(raw)} bytes on disk): {error}"
        ) from error
