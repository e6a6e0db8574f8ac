"""The FashionMNIST example's command line: files written, exact resume, same seed same run,
refused resumes, the model summary, the data split, and a short real training run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import refnet
from refnet.data import write_idx
from refnet.examples.fashion_mnist import cli
from refnet.examples.fashion_mnist.data import default_val_size, load_splits
from refnet.examples.fashion_mnist.metrics import METRIC_KEYS, confusion_matrix
from refnet.examples.fashion_mnist.models import MODELS, build_model, count_parameters, summary
from refnet.examples.fashion_mnist.training import Trainer
from tests.real_data import REAL

PNGS = ("curves.png", "confusion_matrix.png", "predictions.png", "grad_norms.png")
# The cnn exercises every source of randomness (initialisation, shuffling, dropout) and
# batch norm's running statistics; 3 batches of 16 per epoch keep a run to a few seconds.
TINY = ["--model", "cnn", "--batch-size", "16", "--no-progress", "--no-plots"]


def _write_split(directory: Path, prefix: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    # Class-dependent brightness, so there is something to learn (not needed for exactness).
    images = rng.integers(0, 120, size=(n, 28, 28)) + 12 * labels[:, None, None]
    write_idx(directory / f"{prefix}-images-idx3-ubyte", images.astype(np.uint8))
    write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training split of 60 generated images: 48 train, 12 held out (a fifth)."""
    directory = tmp_path_factory.mktemp("fashion")
    _write_split(directory, "train", 60, seed=0)
    return directory


def run_cli(*args: str | Path) -> int:
    return cli.main([str(a) for a in args])


def history(out_dir: Path) -> list[dict[str, float]]:
    """The per-epoch metrics that the trajectory determines (wall times left out)."""
    document = json.loads((out_dir / "metrics.json").read_text())
    return [{k: h[k] for k in METRIC_KEYS} for h in document["history"]]


def assert_same_state(a: Any, b: Any, where: str = "checkpoint") -> None:
    """Nested checkpoint contents equal exactly (arrays bit for bit)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def trajectory(out_dir: Path) -> dict[str, Any]:
    """Everything in the latest checkpoint except wall times."""
    checkpoint = refnet.load(out_dir / "latest.npz")
    for entry in checkpoint["history"]:
        for key in ("seconds", "train_seconds", "images_per_s"):
            del entry[key]
    return checkpoint


# ---------------------------------------------------------------------- output files


def test_writes_checkpoints_and_metrics_without_plots(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_cli(*TINY, "--data-dir", data_dir, "--epochs", "2", "--out-dir", out) == 0
    printed = capsys.readouterr().out
    assert "Total params: 421,738" in printed
    assert "train on 48 images, validate on the last 12 images" in printed
    assert printed.count("epoch ") >= 2 and "val loss" in printed and "img/s" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "best.npz",
        "latest.npz",
        "metrics.csv",
        "metrics.json",
    ]
    document = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in document["history"]] == [1, 2]
    assert document["config"]["model"] == "cnn" and document["config"]["epochs"] == 2
    counts = np.array(document["confusion_matrix"]["counts"])
    assert counts.shape == (10, 10) and counts.sum() == 12
    assert np.trace(counts) / 12 == pytest.approx(document["history"][-1]["val_acc"])
    norms = document["grad_norms"]
    assert norms["steps"] == [1]  # every 10 steps from the first: 6 steps in 2 epochs
    assert set(norms["norms"]) == {"0 Conv2d", "1 BatchNorm2d", "4 Conv2d", "5 BatchNorm2d",
                                   "9 Linear", "12 Linear"}  # fmt: skip
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc,lr")
    assert len(csv_lines) == 3
    latest = refnet.load(out / "latest.npz")
    assert latest["epoch"] == 2 and latest["step"] == 6
    best = refnet.load(out / "best.npz")
    best_epoch = max(document["history"], key=lambda h: h["val_acc"])["epoch"]
    assert best["epoch"] == best_epoch


def test_writes_figures(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    args = [a for a in TINY if a != "--no-plots"]
    assert run_cli(*args, "--data-dir", data_dir, "--epochs", "1", "--out-dir", out) == 0
    for name in PNGS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_data_dir_from_environment(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFNET_DATA_DIR", str(data_dir))
    out = tmp_path / "run"
    args = ["--model", "mlp", "--no-progress", "--no-plots", "--epochs", "1"]
    assert run_cli(*args, "--out-dir", out) == 0
    assert len(history(out)) == 1


def test_missing_data_says_where_to_put_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "nothing-here"
    assert run_cli(*TINY, "--data-dir", empty, "--out-dir", tmp_path / "run") == 2
    message = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in message and str(empty) in message
    assert "--download" in message


def test_module_entry_point_prints_help() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-m", "refnet.examples.fashion_mnist", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    for flag in ("--model", "--resume", "--val-size", "--scheduler", "--no-plots"):
        assert flag in result.stdout
    assert "lenet  sgd lr=0.05 batch=64" in result.stdout


# ---------------------------------------------------------------------- reproducibility


def test_same_seed_same_run_and_another_seed_another(data_dir: Path, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        out = tmp_path / name
        args = [*TINY, "--data-dir", data_dir, "--epochs", "2", "--seed", seed]
        assert run_cli(*args, "--out-dir", out) == 0
        runs[name] = out
    assert history(runs["a"]) == history(runs["b"])
    assert_same_state(trajectory(runs["a"]), trajectory(runs["b"]))
    assert history(runs["a"]) != history(runs["c"])


@pytest.mark.parametrize(
    ("model", "scheduler", "optimizer"),
    [("cnn", "onecycle", "adam"), ("lenet", "cosine", "sgd")],
)
def test_resume_reproduces_the_uninterrupted_run(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    scheduler: str,
    optimizer: str,
) -> None:
    args = [*TINY, "--data-dir", data_dir, "--epochs", "3", "--model", model]
    args += ["--scheduler", scheduler, "--optimizer", optimizer, "--grad-norm-every", "3"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert run_cli(*args, "--out-dir", straight) == 0

    # Ctrl-C in the middle of epoch 2: the latest checkpoint is epoch 1's.
    train_epoch = Trainer.train_epoch

    def interrupt_in_epoch_2(self: Trainer, progress: Any = None) -> dict[str, float]:
        if self.epoch == 1:
            next(iter(self.loader))  # a batch of epoch 2 is drawn, then the user stops it
            raise KeyboardInterrupt
        return train_epoch(self, progress)

    monkeypatch.setattr(Trainer, "train_epoch", interrupt_in_epoch_2)
    assert run_cli(*args, "--out-dir", interrupted) == 130
    assert refnet.load(interrupted / "latest.npz")["epoch"] == 1
    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)

    # Resume in a "new process": only the output directory, the checkpoint supplies the rest.
    resume = ["--resume", "--out-dir", interrupted, "--data-dir", data_dir, "--no-progress"]
    assert run_cli(*resume, "--no-plots") == 0
    assert history(interrupted) == history(straight)
    assert_same_state(trajectory(interrupted), trajectory(straight))


def test_resume_extends_a_run_whose_schedule_ignores_the_epoch_count(
    data_dir: Path, tmp_path: Path
) -> None:
    args = [*TINY, "--data-dir", data_dir, "--model", "mlp", "--scheduler", "step"]
    assert run_cli(*args, "--epochs", "3", "--out-dir", tmp_path / "three") == 0
    assert run_cli(*args, "--epochs", "2", "--out-dir", tmp_path / "two") == 0
    assert run_cli(*args, "--epochs", "3", "--out-dir", tmp_path / "two", "--resume") == 0
    assert history(tmp_path / "two") == history(tmp_path / "three")
    assert_same_state(trajectory(tmp_path / "two"), trajectory(tmp_path / "three"))


# ---------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def finished_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    args = [*TINY, "--data-dir", data_dir, "--epochs", "1", "--scheduler", "cosine"]
    assert run_cli(*args, "--out-dir", out) == 0
    return out


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--model", "lenet"], "--model lenet given, the checkpoint has cnn"),
        (["--lr", "0.5"], "--lr 0.5 given, the checkpoint has 0.003"),
        (["--seed", "7", "--batch-size", "32"], "--batch-size 32 given"),
        (["--epochs", "2"], "the schedule spans the planned epochs"),
        (["--val-size", "10"], "--val-size 10 given, the checkpoint has None"),
    ],
)
def test_resume_with_another_config_is_refused(
    finished_run: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    expected: str,
) -> None:
    before = (finished_run / "latest.npz").read_bytes()
    resume = ["--resume", "--out-dir", finished_run, "--data-dir", data_dir, "--no-plots"]
    assert run_cli(*resume, *flags) == 2
    message = capsys.readouterr().err
    assert "cannot resume" in message and expected in message
    assert (finished_run / "latest.npz").read_bytes() == before


def test_resume_on_other_images_is_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_split(tmp_path, "train", 60, seed=1)
    assert run_cli("--resume", "--out-dir", finished_run, "--data-dir", tmp_path, "--no-plots") == 2
    assert "images differ from the checkpoint's" in capsys.readouterr().err


def test_resume_without_a_checkpoint_and_overwriting_a_run_are_refused(
    finished_run: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run_cli("--resume", "--out-dir", tmp_path / "none", "--data-dir", data_dir, "--no-plots")
        == 2
    )
    assert "no checkpoint at" in capsys.readouterr().err
    assert run_cli(*TINY, "--data-dir", data_dir, "--out-dir", finished_run) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_overwrite_starts_a_new_run(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    args = [*TINY, "--data-dir", data_dir, "--out-dir", out, "--model", "mlp", "--epochs", "1"]
    assert run_cli(*args) == 0
    before = history(out)

    def interrupt(self: Trainer, progress: Any = None) -> dict[str, float]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", interrupt)
    assert run_cli(*args, "--overwrite", "--seed", "5") == 130
    assert not (out / "latest.npz").exists()  # nothing left to resume by mistake
    monkeypatch.undo()
    assert run_cli(*args, "--overwrite", "--seed", "5") == 0
    assert history(out) != before


def test_resuming_a_finished_run_trains_nothing(
    finished_run: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = history(finished_run)
    resume = ["--resume", "--out-dir", finished_run, "--data-dir", data_dir, "--no-plots"]
    assert run_cli(*resume) == 0
    assert "nothing to train" in capsys.readouterr().out
    assert history(finished_run) == before


# ---------------------------------------------------------------------- pieces


@pytest.mark.parametrize(
    ("name", "total", "per_layer"),
    [
        ("mlp", 235_146, [0, 200_960, 0, 32_896, 0, 1_290]),
        ("lenet", 21_840, [260, 0, 0, 5_020, 0, 0, 0, 16_050, 0, 510]),
        ("cnn", 421_738, [288, 64, 0, 0, 18_432, 128, 0, 0, 0, 401_536, 0, 0, 1_290]),
    ],
)
def test_summary_counts_parameters(name: str, total: int, per_layer: list[int]) -> None:
    model = build_model(name, np.random.default_rng(0))
    assert count_parameters(model) == total
    text = summary(model)
    assert f"Total params: {total:,}" in text
    rows = [line for line in text.splitlines() if line.strip()[:1].isdigit()]
    counts = [int(row.split()[-1].replace(",", "").replace("-", "0")) for row in rows]
    assert counts == per_layer
    assert rows[-1].split("(N, ")[1].startswith("10)")


def test_summary_matches_the_torch_replica() -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import fashion_mnist_torch_replica as replica
    finally:
        sys.path.pop(0)
    for name in MODELS:
        torch_model = replica.MODELS[name]()
        ours = build_model(name, np.random.default_rng(0))
        assert count_parameters(ours) == sum(p.numel() for p in torch_model.parameters())
        assert list(ours.state_dict()) == list(torch_model.state_dict())


def test_summary_changes_nothing() -> None:
    model = build_model("cnn", np.random.default_rng(0))
    before = model.state_dict()
    summary(model)
    assert model.training
    assert_same_state(model.state_dict(), before)


def test_data_splits(tmp_path: Path) -> None:
    assert default_val_size(8226) == 1226  # the fair split of the 8k subset: 7,000 + 1,226
    assert default_val_size(60_000) == 1226
    assert default_val_size(240) == 48
    _write_split(tmp_path, "train", 240, seed=0)
    held_out = load_splits(tmp_path)
    assert (len(held_out.train), len(held_out.val)) == (192, 48)
    np.testing.assert_array_equal(held_out.val_labels, np.arange(192, 240) % 10)
    images, labels = held_out.val.get_batch(np.arange(48))
    assert images.shape == (48, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, held_out.val_labels)
    _write_split(tmp_path, "t10k", 30, seed=1)
    with_test = load_splits(tmp_path)
    assert (len(with_test.train), len(with_test.val)) == (240, 30)
    assert "official test split" in with_test.description
    explicit = load_splits(tmp_path, val_size=40, train_size=100)
    assert (len(explicit.train), len(explicit.val)) == (100, 40)
    with pytest.raises(ValueError, match="--val-size must be between 1 and 239"):
        load_splits(tmp_path, val_size=240)


def test_confusion_matrix() -> None:
    predicted, true = np.array([0, 1, 1, 2, 2, 2]), np.array([0, 1, 2, 2, 2, 0])
    expected = [[1, 0, 1], [0, 1, 0], [0, 1, 2]]
    assert confusion_matrix(predicted, true, 3).tolist() == expected


# ---------------------------------------------------------------------- real data


@pytest.fixture
def real_subset() -> Iterator[Path]:
    if REAL is None:
        pytest.skip(
            "the FashionMNIST 8k subset is not here (set REFNET_TEST_DATA to its directory)"
        )
    yield REAL


@pytest.mark.slow
def test_lenet_learns_on_the_real_subset(real_subset: Path, tmp_path: Path) -> None:
    """LeNet on 3,000 of the subset's training images for 2 epochs (a one-cycle schedule to
    converge in few steps), validated on the held-out 1,226: far above chance (10%)."""
    out = tmp_path / "lenet"
    args = ["--model", "lenet", "--data-dir", real_subset, "--train-size", "3000"]
    args += ["--epochs", "2", "--batch-size", "32", "--lr", "0.03", "--scheduler", "onecycle"]
    assert run_cli(*args, "--out-dir", out, "--no-plots", "--no-progress") == 0
    document = json.loads((out / "metrics.json").read_text())
    first, last = document["history"]
    assert document["data"].endswith("the last 1,226 images of the training split (held out)")
    assert last["train_loss"] < first["train_loss"] and last["val_loss"] < first["val_loss"]
    assert first["train_loss"] < 2.3  # below chance level, ln 10 ≈ 2.303, on average
    assert last["val_acc"] >= 0.70


# ---------------------------------------------------------------------- errors (issue 17)


def test_bad_values_and_damaged_checkpoints_get_one_line_and_exit_2(
    finished_run: Path, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli(*TINY, "--data-dir", data_dir, "--seed", "-5")
    assert exited.value.code == 2 and "must be a non-negative integer" in capsys.readouterr().err
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    content = (finished_run / "latest.npz").read_bytes()
    resume = ["--resume", "--out-dir", damaged, "--data-dir", data_dir, "--no-plots"]
    for broken in (content[: len(content) // 2], b"not a checkpoint"):
        (damaged / "latest.npz").write_bytes(broken)
        assert run_cli(*resume) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --resume: refnet.load(") and "--overwrite" in err
        assert "Traceback" not in err
    checkpoint = refnet.load(finished_run / "latest.npz")
    del checkpoint["config"]
    refnet.save(checkpoint, damaged / "latest.npz")
    assert run_cli(*resume) == 2
    assert "has no config" in capsys.readouterr().err


def test_an_unwritable_output_is_found_before_training(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert run_cli(*TINY, "--data-dir", data_dir, "--out-dir", a_file / "run", "--no-plots") == 2
    assert "is a file, not a directory" in capsys.readouterr().err
    real_write = Path.write_bytes

    def read_only(self: Path, data: bytes) -> int:
        if self.name.startswith(".write-test"):
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    trained = []
    monkeypatch.setattr(cli, "train", lambda *a, **k: trained.append(1))
    out = tmp_path / "ro"
    assert run_cli(*TINY, "--data-dir", data_dir, "--out-dir", out, "--no-plots") == 3
    assert "cannot write the run's files" in capsys.readouterr().err and not trained


def test_a_full_disk_is_one_line_and_exit_3(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno

    from refnet.examples.fashion_mnist import checkpoints

    def full(obj: object, path: Path, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoints.refnet, "save", full)
    out = tmp_path / "full"
    assert run_cli(*TINY, "--data-dir", data_dir, "--out-dir", out, "--no-plots") == 3
    err = capsys.readouterr().err
    assert "No space left on device" in err and "best.npz" in err and "Traceback" not in err


@pytest.mark.parametrize("stop_in", ["best.npz", "latest.npz", "metrics"])
def test_an_interrupted_write_after_the_last_epoch_leaves_files_that_agree(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stop_in: str,
) -> None:
    """Issue 17, item 1: a Ctrl-C while best.npz was written after the last epoch left it
    stale for good (latest.npz was already written, so --resume trained nothing), and the
    message said 'during epoch 3' of a 2-epoch run. best.npz is now written first."""
    args = [*TINY, "--data-dir", data_dir, "--epochs", "2"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert run_cli(*args, "--out-dir", straight) == 0
    save, metrics = cli.save_checkpoint, cli.write_run_metrics

    def interrupted_save(path: Path, trainer: Trainer) -> None:
        if trainer.epoch == 2 and path.name == stop_in:
            raise KeyboardInterrupt
        save(path, trainer)

    def interrupted_metrics(trainer: Trainer, out_dir: Path) -> list[Path]:
        if trainer.epoch == 2 and stop_in == "metrics":
            raise KeyboardInterrupt
        return metrics(trainer, out_dir)

    monkeypatch.setattr(cli, "save_checkpoint", interrupted_save)
    monkeypatch.setattr(cli, "write_run_metrics", interrupted_metrics)
    capsys.readouterr()
    assert run_cli(*args, "--out-dir", stopped) == 130
    on_disk = refnet.load(stopped / "latest.npz")["epoch"]
    message = capsys.readouterr().err
    assert f"holds epoch {on_disk}" in message and "epoch 3" not in message
    assert ("checkpoints" if stop_in != "metrics" else "metrics") in message
    monkeypatch.setattr(cli, "save_checkpoint", save)
    monkeypatch.setattr(cli, "write_run_metrics", metrics)
    assert run_cli("--resume", "--out-dir", stopped, "--data-dir", data_dir, "--no-plots") == 0
    for name in ("latest.npz", "best.npz"):
        a, b = refnet.load(stopped / name), refnet.load(straight / name)
        for checkpoint in (a, b):
            for entry in checkpoint["history"]:
                for key in ("seconds", "train_seconds", "images_per_s"):
                    del entry[key]
        assert_same_state(a, b, name)
    assert history(stopped) == history(straight)
