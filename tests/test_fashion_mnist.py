"""FashionMNIST: loading, the root directory rules, downloading (against a local HTTP server)
with MD5 checks and atomic writes, offline errors, and the real 8k subset."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import refnet._download as download_module
import refnet.data.fashion_mnist as fashion_module
from refnet.data import DataLoader, DownloadError, FashionMNIST, Subset, read_idx, write_idx
from tests.real_data import REAL

FILES = {
    "train-images-idx3-ubyte.gz": (30, 28, 28),
    "train-labels-idx1-ubyte.gz": (30,),
    "t10k-images-idx3-ubyte.gz": (12, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (12,),
}


def _write_split(directory: Path, prefix: str, n: int, seed: int, suffix: str = ".gz") -> None:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(
        directory / f"{prefix}-labels-idx1-ubyte{suffix}", (np.arange(n) % 10).astype(np.uint8)
    )


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with four small FashionMNIST-shaped files, registered as the official ones."""
    directory = tmp_path / "server"  # tests download into tmp_path / "root"
    directory.mkdir()
    _write_split(directory, "train", 30, seed=0)
    _write_split(directory, "t10k", 12, seed=1)
    resources = tuple(
        (name, hashlib.md5((directory / name).read_bytes()).hexdigest()) for name in FILES
    )
    monkeypatch.setattr(FashionMNIST, "resources", resources)
    return directory


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; logs requests; can cut chosen files short mid-body."""

    truncate: frozenset[str] = frozenset()
    requests: list[str]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.truncate:
            super().do_GET()
            return
        content = Path(self.directory, name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content[: len(content) // 2])  # then the connection drops
        self.close_connection = True


class Server:
    def __init__(self, directory: Path, truncate: frozenset[str] = frozenset()) -> None:
        self.requests: list[str] = []
        handler = type("Handler", (_Handler,), {"truncate": truncate, "requests": self.requests})
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(served: Path) -> Iterator[Server]:
    # The URL has a /files/ prefix that the handler maps onto the directory's root.
    (served / "files").symlink_to(served)
    instance = Server(served)
    yield instance
    instance.close()


@pytest.fixture
def closed_port_url() -> str:
    """A local URL nothing listens on: connecting fails at once, like being offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ---------------------------------------------------------------------- loading


def test_load_directory(served: Path) -> None:
    train = FashionMNIST(served)
    assert len(train) == 30 and train.data.shape == (30, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64 and train.targets.tolist() == [i % 10 for i in range(30)]
    np.testing.assert_array_equal(train.data, read_idx(served / "train-images-idx3-ubyte.gz"))
    test = FashionMNIST(served, train=False)
    assert len(test) == 12 and not test.train
    assert len(train.classes) == 10 and train.classes[0] == "T-shirt/top"
    assert train.class_to_idx["Ankle boot"] == 9
    assert "Number of datapoints: 30" in repr(train) and "Split: Test" in repr(test)


def test_items_and_batches(served: Path) -> None:
    ds = FashionMNIST(served)
    image, label = ds[3]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32
    assert isinstance(label, int) and label == 3
    np.testing.assert_array_equal(image[0], ds.data[3] / np.float32(255))
    assert image.min() >= 0 and image.max() <= 1
    images, labels = ds.get_batch(np.array([5, 3, -1]))
    assert images.shape == (3, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images[1], image)
    np.testing.assert_array_equal(labels, [5, 3, 9])
    np.testing.assert_array_equal(ds[-1][0], images[2])


def test_transform_sees_batches(served: Path) -> None:
    shapes: list[tuple[int, ...]] = []

    def normalise(x: np.ndarray) -> np.ndarray:
        shapes.append(x.shape)
        return (x - 0.5) / 0.5

    ds = FashionMNIST(served, transform=normalise)
    image, _ = ds[0]
    images, _ = ds.get_batch(np.arange(4))
    assert shapes == [(1, 1, 28, 28), (4, 1, 28, 28)]
    np.testing.assert_allclose(image, ds.data[0][None] / 255 * 2 - 1, atol=1e-6)
    np.testing.assert_array_equal(images[0], image)


def test_loader_fast_path(served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = FashionMNIST(served)

    def refuse(self: Any, index: int) -> Any:
        raise AssertionError("the loader must use get_batch, not index sample by sample")

    monkeypatch.setattr(FashionMNIST, "__getitem__", refuse)
    batches = list(DataLoader(Subset(ds, range(25)), batch_size=8, shuffle=True, generator=0))
    assert [len(labels) for _, labels in batches] == [8, 8, 8, 1]
    assert sorted(int(y) for _, labels in batches for y in labels) == sorted(
        ds.targets[:25].tolist()
    )


def test_uncompressed_files(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", 7, seed=2, suffix="")
    assert len(FashionMNIST(tmp_path)) == 7


def test_inconsistent_files(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", 7, seed=2)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(6, np.uint8))
    with pytest.raises(ValueError, match=r"has 7 images but .* has 6 labels"):
        FashionMNIST(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(7, 10, np.uint8))
    with pytest.raises(ValueError, match=r"labels must lie in 0..9"):
        FashionMNIST(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((7, 784), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\), got uint8 \(7, 784\)"):
        FashionMNIST(tmp_path)
    # Issue 17, item 7: images of another size (MNIST-like files of 32x32) were accepted
    # and failed deep inside the first layer.
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((7, 32, 32), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\), got uint8 \(7, 32, 32\)"):
        FashionMNIST(tmp_path)


def test_truncated_file_named(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", 7, seed=2, suffix="")
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=f"{path}: wrong IDX length"):
        FashionMNIST(tmp_path)


# ---------------------------------------------------------------------- missing files


def test_missing_split_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path / "empty")
    message = str(info.value)
    assert str(tmp_path / "empty") in message and "download=True" in message
    for name, md5 in fashion_module.RESOURCES:
        assert name in message and md5 in message
    assert "REFNET_DATA_DIR" in message


def test_training_split_only(tmp_path: Path) -> None:
    _write_split(tmp_path, "train", 5, seed=0)
    assert FashionMNIST.split_available(tmp_path, train=True)
    assert not FashionMNIST.split_available(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="training split only") as info:
        FashionMNIST(tmp_path, train=False)
    assert str(tmp_path) in str(info.value) and "validation" in str(info.value)


# ---------------------------------------------------------------------- root directory


def test_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("train", "env", "xdg/refnet/fashion-mnist", "home/.cache/refnet/fashion-mnist"):
        (tmp_path / name).mkdir(parents=True)
    _write_split(tmp_path / "train", "train", 3, seed=0)
    _write_split(tmp_path / "env", "train", 4, seed=0)
    _write_split(tmp_path / "xdg/refnet/fashion-mnist", "train", 5, seed=0)
    _write_split(tmp_path / "home/.cache/refnet/fashion-mnist", "train", 6, seed=0)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("REFNET_DATA_DIR", raising=False)
    assert len(FashionMNIST()) == 6
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert len(FashionMNIST()) == 5
    monkeypatch.setenv("REFNET_DATA_DIR", str(tmp_path / "env"))
    assert len(FashionMNIST()) == 4
    assert FashionMNIST().root == tmp_path / "env"
    assert len(FashionMNIST(tmp_path / "train")) == 3  # the argument wins
    assert len(FashionMNIST(str(tmp_path / "train"))) == 3
    monkeypatch.setenv("REFNET_DATA_DIR", "")  # empty counts as unset
    assert len(FashionMNIST()) == 5


# ---------------------------------------------------------------------- downloading


def test_download(tmp_path: Path, served: Path, server: Server) -> None:
    root = tmp_path / "cache" / "fm"
    train = FashionMNIST(root, download=True, mirrors=[server.url])
    assert _names(root) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert (root / "train-images-idx3-ubyte.gz").read_bytes() == (
        served / "train-images-idx3-ubyte.gz"
    ).read_bytes()
    assert len(train) == 30
    test = FashionMNIST(root, train=False, download=True, mirrors=[server.url])
    assert len(test) == 12 and _names(root) == sorted(FILES)
    assert len(server.requests) == 4


def test_download_both_splits_and_skip_present(
    tmp_path: Path, server: Server, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    monkeypatch.setattr(FashionMNIST, "mirrors", (server.url,))  # the class attribute
    assert FashionMNIST.download(root) == root
    assert _names(root) == sorted(FILES) and len(server.requests) == 4
    # Present and valid: nothing is fetched, so a dead mirror does not matter.
    assert len(FashionMNIST(root, download=True, mirrors=[closed_port_url])) == 30
    FashionMNIST.download(root, mirrors=[closed_port_url])
    assert len(server.requests) == 4


def test_mirrors_tried_in_order(tmp_path: Path, server: Server, closed_port_url: str) -> None:
    root = tmp_path / "root"
    missing = server.url.replace("/files/", "/nowhere/")  # a 404 on a live server
    FashionMNIST(root, download=True, mirrors=[closed_port_url, missing, server.url])
    assert _names(root) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert [p.split("/")[1] for p in server.requests] == ["nowhere", "files"] * 2


def test_md5_mismatch_leaves_nothing(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = tuple((name, "0" * 32) for name, _ in FashionMNIST.resources)
    monkeypatch.setattr(FashionMNIST, "resources", wrong)
    with pytest.raises(DownloadError, match=r"MD5 mismatch: got [0-9a-f]{32}, expected 0{32}"):
        FashionMNIST(tmp_path / "root", download=True, mirrors=[server.url])
    assert _names(tmp_path / "root") == []


def test_interrupted_transfer_leaves_nothing(tmp_path: Path, served: Path) -> None:
    root = tmp_path / "root"
    (served / "files").symlink_to(served)
    cutting = Server(served, truncate=frozenset({"train-labels-idx1-ubyte.gz"}))
    try:
        with pytest.raises(DownloadError, match=r"train-labels-idx1-ubyte\.gz") as info:
            FashionMNIST(root, download=True, mirrors=[cutting.url])
    finally:
        cutting.close()
    assert "incomplete" in str(info.value) or "IncompleteRead" in str(info.value)
    assert _names(root) == ["train-images-idx3-ubyte.gz"]  # the complete one only


def test_ctrl_c_during_download_leaves_nothing(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    real_urlopen = download_module.urllib.request.urlopen

    class Interrupting:
        def __init__(self, response: Any) -> None:
            self.response, self.calls = response, 0
            self.headers = response.headers

        def read(self, size: int) -> bytes:
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return bytes(self.response.read(size))

        def __enter__(self) -> Interrupting:
            return self

        def __exit__(self, *args: object) -> None:
            self.response.close()

    monkeypatch.setattr(fashion_module, "_CHUNK", 1000)
    monkeypatch.setattr(
        download_module.urllib.request,
        "urlopen",
        lambda url, timeout: Interrupting(real_urlopen(url, timeout=timeout)),
    )
    with pytest.raises(KeyboardInterrupt):
        FashionMNIST(root, download=True, mirrors=[server.url])
    assert _names(root) == []  # not even the temporary file


def test_a_trickling_mirror_hits_the_overall_deadline(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17, item 8: each read had a timeout but the whole file none; a mirror sending
    a byte a second would have held the download for weeks. Now: one deadline per file."""
    clock = iter(range(0, 10**6, 7))  # every reading of the clock is 7 s later
    monkeypatch.setattr(download_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(fashion_module, "_DEADLINE", 20.0)
    monkeypatch.setattr(fashion_module, "_CHUNK", 1000)
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="too slow"):
        FashionMNIST(root, download=True, mirrors=[server.url])
    assert _names(root) == []


def test_offline_message(tmp_path: Path, closed_port_url: str) -> None:
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        FashionMNIST(root, download=True, mirrors=[closed_port_url])
    message = str(info.value)
    assert closed_port_url in message and str(root) in message
    for name in FILES:
        assert name in message
    assert _names(root) == []


def test_valid_custom_subset_is_kept(tmp_path: Path, closed_port_url: str) -> None:
    """A well-formed file that is not the official one (e.g. the 8k subset) is never replaced."""
    _write_split(tmp_path, "train", 9, seed=5)
    before = (tmp_path / "train-images-idx3-ubyte.gz").read_bytes()
    assert len(FashionMNIST(tmp_path, download=True, mirrors=[closed_port_url])) == 9
    assert (tmp_path / "train-images-idx3-ubyte.gz").read_bytes() == before


def test_corrupt_present_file_is_downloaded_again(
    tmp_path: Path, served: Path, server: Server
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "train-images-idx3-ubyte.gz").write_bytes(
        (served / "train-images-idx3-ubyte.gz").read_bytes()[:100]
    )
    ds = FashionMNIST(root, download=True, mirrors=[server.url])
    assert len(ds) == 30
    assert (root / "train-images-idx3-ubyte.gz").read_bytes() == (
        served / "train-images-idx3-ubyte.gz"
    ).read_bytes()


# ---------------------------------------------------------------------- the real subset


@pytest.mark.skipif(
    REAL is None,
    reason="the FashionMNIST 8k subset is not here (set REFNET_TEST_DATA to its directory)",
)
def test_real_subset() -> None:
    assert REAL is not None
    ds = FashionMNIST(REAL)
    assert ds.data.shape == (8226, 28, 28) and ds.data.dtype == np.uint8
    assert ds.targets.shape == (8226,) and ds.targets.dtype == np.int64
    counts = np.bincount(ds.targets, minlength=10).tolist()
    assert counts == [766, 873, 828, 832, 787, 819, 836, 841, 816, 828]
    assert not FashionMNIST.split_available(REAL, train=False)
    with pytest.raises(FileNotFoundError, match="training split only"):
        FashionMNIST(REAL, train=False)
    # The README's split: train on the first 7,000, evaluate on the remaining 1,226.
    train, held_out = Subset(ds, range(7000)), Subset(ds, range(7000, 8226))
    seen = [labels for _, labels in DataLoader(train, batch_size=512, shuffle=True, generator=0)]
    assert sum(len(b) for b in seen) == 7000
    images, labels = next(iter(DataLoader(held_out, batch_size=1226)))
    assert images.shape == (1226, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(labels, ds.targets[7000:])
