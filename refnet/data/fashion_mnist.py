"""FashionMNIST: 70,000 grey 28x28 images of clothes in 10 classes (Xiao et al., 2017).

PyTorch: ``torchvision.datasets.FashionMNIST``. The data set is four IDX files::

    train-images-idx3-ubyte.gz   60,000 images     t10k-images-idx3-ubyte.gz   10,000 images
    train-labels-idx1-ubyte.gz   60,000 labels     t10k-labels-idx1-ubyte.gz   10,000 labels

Where the files live (the first that is set wins):

1. the ``root`` argument;
2. the environment variable ``REFNET_DATA_DIR``;
3. ``$XDG_CACHE_HOME/refnet/fashion-mnist``, else ``~/.cache/refnet/fashion-mnist``.

The files sit directly in that directory (torchvision nests them in
``FashionMNIST/raw/``), gzip-compressed or not, so any directory of IDX files with the
official names loads, e.g. a subset of the training split only.

``download=True`` fetches the missing files of the requested split from the mirrors in
order, checks each one's MD5 sum against the official one, and moves it into place only
then (temporary file + ``os.replace``): an interrupted or failed download never leaves a
partial or wrong file under the real name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from refnet._atomic import atomic_write
from refnet._download import read_body
from refnet._typing import Array, IntArray
from refnet.data.dataset import Dataset
from refnet.data.idx import read_idx

__all__ = ["DownloadError", "FashionMNIST", "default_root"]

#: torchvision's mirror list for FashionMNIST (it has one entry: the official bucket).
MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

#: The official files and their MD5 sums (from the data set's repository).
RESOURCES: tuple[tuple[str, str], ...] = (
    ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
)

CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

ENV_VAR = "REFNET_DATA_DIR"
IMAGE_SHAPE = (28, 28)
_CHUNK = 1 << 16
_TIMEOUT = 30.0  # seconds without data before a mirror counts as failed
_DEADLINE = 600.0  # seconds for a whole file (the largest is 26 MB)


class DownloadError(RuntimeError):
    """No mirror delivered a file with the right MD5 sum (offline, blocked, or corrupt)."""


def default_root() -> Path:
    """``$REFNET_DATA_DIR``, else ``$XDG_CACHE_HOME/refnet/fashion-mnist``, else ``~/.cache``'s."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "refnet" / "fashion-mnist"


def _split_files(train: bool) -> tuple[str, str]:
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find(root: Path, stem: str) -> Path | None:
    """``root/stem.gz`` or ``root/stem`` (gzip is detected from the content, not the name)."""
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    return None


class FashionMNIST(Dataset):
    """The FashionMNIST training (``train=True``) or test split.

    Attributes:
        data: ``(N, 28, 28)`` uint8 images, as stored.
        targets: ``(N,)`` int64 labels in ``0..9``, indices into ``classes``.
        classes: the 10 class names.
        root: the directory the files were read from.

    ``dataset[i]`` is ``(image, label)``: a float32 ``(1, 28, 28)`` image scaled to
    ``[0, 1]`` (what torchvision's ``ToTensor()`` gives) and an ``int``.
    ``dataset.get_batch(indices)`` is the batched form the DataLoader uses: ``(images,
    labels)`` of shapes ``(B, 1, 28, 28)`` float32 and ``(B,)`` int64, in one indexing
    operation. ``transform`` is applied to images **in batches** of shape
    ``(B, 1, 28, 28)`` (a single image is passed as a batch of one), so write it
    vectorised, e.g. ``lambda x: (x - 0.2860) / 0.3530``.

    Raises ``FileNotFoundError`` (saying which files to put where) if the split is missing
    and ``download=False``, and :class:`DownloadError` if a download fails on every mirror.
    ``mirrors=`` overrides the class attribute ``FashionMNIST.mirrors`` (tried in order).
    """

    mirrors: Sequence[str] = MIRRORS
    resources: Sequence[tuple[str, str]] = RESOURCES
    classes: tuple[str, ...] = CLASSES

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        train: bool = True,
        download: bool = False,
        transform: Callable[[Array], Array] | None = None,
        *,
        mirrors: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.train = train
        self.transform = transform
        if download:
            self.download(self.root, train=train, mirrors=mirrors)
        images_path, labels_path = self._split_paths(self.root, train)
        images, labels = read_idx(images_path), read_idx(labels_path)
        _check_arrays(images_path, images, labels_path, labels, len(self.classes))
        self.data: Array = images
        self.targets: IntArray = labels.astype(np.int64)

    # ------------------------------------------------------------------ samples

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int) -> tuple[Array, int]:
        image = self._images(self.data[index][None])[0]
        return image, int(self.targets[index])

    def get_batch(self, indices: IntArray) -> tuple[Array, IntArray]:
        return self._images(self.data[indices]), self.targets[indices]

    def _images(self, raw: Array) -> Array:
        """uint8 ``(B, H, W)`` -> float32 ``(B, 1, H, W)`` in [0, 1], then ``transform``."""
        images = (raw.astype(np.float32) / np.float32(255))[:, None]
        return images if self.transform is None else self.transform(images)

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name → label index, as in torchvision (``{'T-shirt/top': 0, ...}``)."""
        return {name: i for i, name in enumerate(self.classes)}

    def __repr__(self) -> str:
        return (
            f"Dataset FashionMNIST\n    Number of datapoints: {len(self)}\n"
            f"    Root location: {self.root}\n    Split: {'Train' if self.train else 'Test'}"
        )

    # ------------------------------------------------------------------ files

    @classmethod
    def split_available(
        cls, root: str | os.PathLike[str] | None = None, train: bool = False
    ) -> bool:
        """Whether ``root`` holds both files of the split (e.g. to decide on a validation split)."""
        directory = Path(root).expanduser() if root is not None else default_root()
        return all(_find(directory, stem) is not None for stem in _split_files(train))

    @classmethod
    def _split_paths(cls, root: Path, train: bool) -> tuple[Path, Path]:
        found = [_find(root, stem) for stem in _split_files(train)]
        images, labels = found
        if images is not None and labels is not None:
            return images, labels
        if not train and cls.split_available(root, train=True):
            raise FileNotFoundError(
                f"{root} holds the FashionMNIST training split only: there is no "
                "t10k-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz] for train=False. "
                "Hold out a validation part of the training split (refnet.data.random_split "
                "or Subset), or use download=True to fetch the test split."
            )
        split = "training" if train else "test"
        raise FileNotFoundError(
            f"FashionMNIST {split} split not found in {root}: missing "
            + " and ".join(
                f"{stem}[.gz]"
                for stem, path in zip(_split_files(train), found, strict=True)
                if path is None
            )
            + ". Use download=True, or "
            + cls._manual_instructions(root)
        )

    @classmethod
    def _manual_instructions(cls, root: Path) -> str:
        files = "\n".join(f"  {name}  (md5 {md5})" for name, md5 in cls.resources)
        source = cls.mirrors[0] if cls.mirrors else "a FashionMNIST mirror"
        return (
            f"fetch these four files from {source} on a machine that has internet access "
            f"and put them in {root}:\n{files}\n"
            f"(or point root= or ${ENV_VAR} at a directory that holds them)"
        )

    @classmethod
    def download(
        cls,
        root: str | os.PathLike[str] | None = None,
        train: bool | None = None,
        mirrors: Sequence[str] | None = None,
    ) -> Path:
        """Fetch the split's missing files (both splits if ``train=None``) into ``root``.

        A file counts as present if it is there and either has the official MD5 sum or,
        failing that, is a well-formed IDX file (a subset you put there is kept, never
        overwritten); a present but corrupt file is downloaded again. Returns the directory.
        """
        directory = Path(root).expanduser() if root is not None else default_root()
        urls = list(cls.mirrors if mirrors is None else mirrors)
        stems = [
            s
            for split in ((True, False) if train is None else (train,))
            for s in _split_files(split)
        ]
        wanted = [(name, md5) for name, md5 in cls.resources if name.removesuffix(".gz") in stems]
        missing = [(name, md5) for name, md5 in wanted if not _present(directory, name, md5)]
        if missing:
            directory.mkdir(parents=True, exist_ok=True)
        for name, md5 in missing:
            failures: list[str] = []
            for mirror in urls:
                failure = _try_mirror(mirror, name, md5, directory)
                if failure is None:
                    break
                failures.append(failure)
            else:
                reasons = "\n".join(f"  {reason}" for reason in failures) or "  (no mirrors)"
                raise DownloadError(
                    f"could not download {name} (FashionMNIST):\n{reasons}\n"
                    "If this machine is offline, " + cls._manual_instructions(directory)
                )
        return directory


def _present(directory: Path, name: str, md5: str) -> bool:
    """A usable copy of ``name`` (gzip or uncompressed) is already in ``directory``."""
    stem = name.removesuffix(".gz")
    for path in (directory / name, directory / stem):
        if not path.is_file():
            continue
        if path.name == name and _md5(path) == md5:
            return True
        try:
            read_idx(path)
        except ValueError:
            continue  # corrupt: download again (the new file replaces it atomically)
        return True
    return False


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _ChecksumError(ValueError):
    pass


def _try_mirror(mirror: str, name: str, md5: str, directory: Path) -> str | None:
    """Download ``mirror + name`` to ``directory / name``; ``None`` on success, else why not.

    The bytes go to a temporary file and are hashed on the way; only a complete file with
    the expected MD5 is renamed into place. Anything else (network error, short read,
    wrong sum, Ctrl-C) deletes the temporary file.
    """
    url = mirror.rstrip("/") + "/" + name
    print(f"Downloading {url} to {directory / name}", file=sys.stderr)
    try:
        with atomic_write(directory / name) as out:
            _fetch(url, out, md5)
    except (OSError, http.client.HTTPException, ValueError) as error:
        # URLError/HTTPError/timeouts are OSErrors; IncompleteRead is an HTTPException;
        # ValueError covers malformed URLs and _ChecksumError.
        return f"{url}: {error}"
    return None


def _fetch(url: str, out: BinaryIO, md5: str) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in read_body(url, timeout=_TIMEOUT, deadline=_DEADLINE, chunk=_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    if digest.hexdigest() != md5:
        raise _ChecksumError(f"MD5 mismatch: got {digest.hexdigest()}, expected {md5}")


def _check_arrays(
    images_path: Path, images: Array, labels_path: Path, labels: Array, n_classes: int
) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"{images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{labels_path}: expected integer labels of shape (N,), got {labels.dtype} "
            f"{labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{images_path} has {images.shape[0]} images but {labels_path} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"{labels_path}: labels must lie in 0..{n_classes - 1}, got values from "
            f"{labels.min()} to {labels.max()}"
        )
