"""Save and load state dicts and checkpoints as ``.npz`` files, never with pickle.

PyTorch: ``torch.save`` / ``torch.load(weights_only=True)``. ``torch.save`` pickles, and
loading a pickle can run arbitrary code; refnet's format cannot. A file is an ordinary
NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

* one member per array, named ``a0``, ``a1``, ... in the order they occur in the object;
* ``__refnet__``: the object's structure as a UTF-8 JSON document (a uint8 array), in
  which every array is a reference ``{"t": "array", "key": "a0"}``.

:func:`load` reads it with ``np.load(..., allow_pickle=False)`` and rebuilds the object
from JSON, so an archive with object arrays or any other pickled content is refused.

What round-trips, types preserved exactly:

* ``dict`` (``str`` or ``int`` keys, insertion order kept), ``list``, ``tuple``;
* ``np.ndarray`` of any bool, integer, unsigned, float or complex dtype and any shape,
  0-d included, and NumPy scalars (``np.float32(0.5)`` loads as ``np.float32``);
* ``int`` (any size, e.g. a generator's 128-bit state), ``float`` (incl. ``nan``,
  ``inf``, ``-0.0``), ``bool``, ``str``, ``None``.

Optimizer state dicts (``{'state': {0: {...}}, 'param_groups': [{'betas': (0.9, 0.999),
...}]}``), module state dicts and data-loader states are all made of these.

>>> import numpy as np, tempfile, pathlib, refnet
>>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.npz"
>>> refnet.save({"epoch": 3, "model": {"0.weight": np.eye(2)}, "betas": (0.9, 0.999)}, path)
>>> refnet.load(path)
{'epoch': 3, 'model': {'0.weight': array([[1., 0.],
       [0., 1.]])}, 'betas': (0.9, 0.999)}
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from refnet._atomic import atomic_write
from refnet._typing import Array

__all__ = ["load", "save"]

FORMAT = "refnet"
VERSION = 1
STRUCTURE_KEY = "__refnet__"
_ARRAY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: no pickle needed


def save(obj: Any, path: str | os.PathLike[str], *, compress: bool = False) -> None:
    """Write ``obj`` to ``path`` as a refnet ``.npz`` file, atomically.

    The file is written under a temporary name in the same directory and renamed over
    ``path`` only when complete: a failure (full disk, Ctrl-C) leaves a previous file
    intact. ``path`` is used exactly as given (no ``.npz`` is appended).
    ``compress=True`` deflates the arrays (smaller, slower; weights compress little).

    Raises ``TypeError`` naming where in ``obj`` an unsupported value sits, e.g.
    ``obj['optimizer']['param_groups'][0]['lr_lambda']: cannot save a function``, before
    anything is written.
    """
    arrays: dict[str, Array] = {}
    structure = _encode(obj, "obj", arrays, set())
    document = json.dumps({"format": FORMAT, "version": VERSION, "root": structure})
    members: dict[str, Any] = {
        STRUCTURE_KEY: np.frombuffer(document.encode("utf-8"), dtype=np.uint8),
        **arrays,
    }
    writer = np.savez_compressed if compress else np.savez
    with atomic_write(path) as file:
        # Every member is numeric (checked while encoding), so np.savez never pickles; its
        # allow_pickle argument is not passed because NumPy < 2.1 would save it as an array.
        writer(file, **members)


def load(path: str | os.PathLike[str]) -> Any:
    """Read an object written by :func:`save`. Never unpickles: loading cannot run code.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for
    anything that is not an intact refnet file (corrupt or truncated, a plain ``.npz``, an
    archive holding pickled object arrays).
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"refnet.load: no such file: {file}")
    try:
        archive = np.load(file, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise _FormatError("a single .npy array, not a refnet .npz archive")
        with archive:
            return _decode_archive(archive)
    except _FormatError as error:
        raise ValueError(f"refnet.load({file}): not a valid refnet file: {error}") from None
    except (
        ValueError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        RecursionError,
        MemoryError,  # a member header claiming an absurd size (8 TB)
    ) as error:
        # np.load refuses pickled content (object arrays, pickle files) with a ValueError; a
        # truncated or corrupt archive raises BadZipFile, EOFError, zlib.error, OSError or
        # a ValueError from the .npy header parser.
        raise ValueError(
            f"refnet.load({file}): corrupt, truncated or unsafe file "
            f"({type(error).__name__}: {error})"
        ) from error


def _decode_archive(archive: np.lib.npyio.NpzFile) -> Any:
    names = [] if archive.zip is None else archive.zip.namelist()
    stray = [name for name in names if not name.endswith(".npy")]
    if stray:  # NpzFile would hand such a member back as raw bytes
        raise _FormatError(f"members that are not .npy arrays: {sorted(stray)}")
    members = set(archive.files)
    if STRUCTURE_KEY not in members:
        raise _FormatError(f"an .npz archive without the {STRUCTURE_KEY!r} member")
    _refuse_objects(archive, STRUCTURE_KEY)
    document = _read_document(archive[STRUCTURE_KEY])
    decoder = _Decoder(archive, members - {STRUCTURE_KEY})
    obj = decoder.decode(document["root"])
    if decoder.unused:
        raise _FormatError(f"unreferenced members {sorted(decoder.unused)}")
    return obj


# ---------------------------------------------------------------------- encoding


def _encode(obj: Any, where: str, arrays: dict[str, Array], active: set[int]) -> Any:
    """The JSON form of ``obj``; arrays go to ``arrays``. ``where`` names ``obj`` in errors."""
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        # Exact types only: an IntEnum or a float subclass would come back as a plain
        # int/float. Python's json writes nan, inf and -0.0 and reads them back exactly.
        return obj
    if isinstance(obj, (np.ndarray, np.generic)):
        return _encode_array(obj, where, arrays)
    if kind in (list, tuple, dict):
        if id(obj) in active:
            raise TypeError(f"{where}: cannot save a container that contains itself")
        active.add(id(obj))
        try:
            if kind is dict:
                return {"t": "dict", "items": _encode_items(obj, where, arrays, active)}
            items = [_encode(v, f"{where}[{i}]", arrays, active) for i, v in enumerate(obj)]
            return items if kind is list else {"t": "tuple", "items": items}
        finally:
            active.discard(id(obj))
    raise TypeError(f"{where}: cannot save {_describe(obj)}; {_SUPPORTED}")


_SUPPORTED = (
    "refnet.save stores dict (str or int keys), list, tuple, NumPy arrays and scalars of "
    "numeric or bool dtype, int, float, bool, str and None"
)


def _encode_items(
    mapping: dict[Any, Any], where: str, arrays: dict[str, Array], active: set[int]
) -> list[list[Any]]:
    items = []
    for key, value in mapping.items():
        if type(key) not in (str, int):
            raise TypeError(
                f"{where}: cannot save the dict key {key!r} of type {type(key).__name__} "
                "(only str and int keys)"
            )
        items.append([key, _encode(value, f"{where}[{key!r}]", arrays, active)])
    return items


def _encode_array(obj: Array | np.generic, where: str, arrays: dict[str, Array]) -> Any:
    value = np.asarray(obj)
    if isinstance(obj, np.ndarray) and type(obj) is not np.ndarray:
        raise TypeError(
            f"{where}: cannot save a {type(obj).__name__} (an ndarray subclass); "
            "convert it with np.asarray first"
        )
    if value.dtype.kind not in _ARRAY_KINDS or value.dtype.fields is not None:
        raise TypeError(
            f"{where}: cannot save an array of dtype {value.dtype} (numeric and bool dtypes "
            "only; object arrays would need pickle)"
        )
    key = f"a{len(arrays)}"
    arrays[key] = value
    return {"t": "array" if isinstance(obj, np.ndarray) else "scalar", "key": key}


def _describe(obj: Any) -> str:
    if callable(obj) and hasattr(obj, "__name__"):
        return f"a function ({type(obj).__name__} {obj.__name__!r})"
    return f"an object of type {type(obj).__module__}.{type(obj).__qualname__}"


# ---------------------------------------------------------------------- decoding


class _FormatError(Exception):
    """The archive is readable but is not what :func:`save` writes."""


def _read_document(member: Array) -> dict[str, Any]:
    if member.dtype != np.uint8 or member.ndim != 1:
        raise _FormatError(f"{STRUCTURE_KEY!r} is not a byte string")
    try:
        document = json.loads(member.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _FormatError(f"its structure is not valid JSON ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _FormatError("its structure lacks the refnet format marker")
    if document.get("version") != VERSION:
        raise _FormatError(
            f"format version {document.get('version')!r}; this refnet reads version {VERSION}"
        )
    if "root" not in document:
        raise _FormatError("its structure has no root object")
    return document


class _Decoder:
    """Rebuild an object from its JSON form, checking every node (the file is untrusted)."""

    def __init__(self, archive: np.lib.npyio.NpzFile, members: set[str]) -> None:
        self.archive = archive
        self.unused = set(members)

    def decode(self, node: Any) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if isinstance(node, list):
            return [self.decode(item) for item in node]
        if not isinstance(node, dict):
            raise _FormatError(f"unexpected JSON value {node!r}")
        tag = node.get("t")
        if tag == "tuple" and set(node) == {"t", "items"} and isinstance(node["items"], list):
            return tuple(self.decode(item) for item in node["items"])
        if tag == "dict" and set(node) == {"t", "items"} and isinstance(node["items"], list):
            return dict(self._decode_item(item) for item in node["items"])
        if tag in ("array", "scalar") and set(node) == {"t", "key"}:
            array = self._member(node["key"])
            return array[()] if tag == "scalar" else array
        raise _FormatError(f"unknown node {str(node)[:80]}")

    def _decode_item(self, item: Any) -> tuple[str | int, Any]:
        if not (isinstance(item, list) and len(item) == 2 and type(item[0]) in (str, int)):
            raise _FormatError(f"malformed dict item {str(item)[:80]}")
        return item[0], self.decode(item[1])

    def _member(self, key: Any) -> Array:
        if not isinstance(key, str) or key not in self.unused:
            raise _FormatError(f"missing or repeated array member {key!r}")
        self.unused.discard(key)
        _refuse_objects(self.archive, key)
        array: Array = self.archive[key]
        return array


def _refuse_objects(archive: np.lib.npyio.NpzFile, key: str) -> None:
    """Reject an object-dtype member from its header, before NumPy reads its data.

    ``allow_pickle=False`` already makes NumPy refuse it; this check gives the reason.
    """
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    if archive.zip is None or f"{key}.npy" not in archive.zip.namelist():
        return  # not a plain .npy member: NumPy's own checks apply
    with archive.zip.open(f"{key}.npy") as member:
        read_header = readers.get(np.lib.format.read_magic(member))
        if read_header is None:
            return
        header = read_header(member)
    if header[2].hasobject:
        raise _FormatError(
            f"the member {key!r} holds pickled Python objects (dtype {header[2]}); refused, "
            "since unpickling can run arbitrary code"
        )
