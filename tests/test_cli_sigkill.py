"""The examples' command lines killed with SIGKILL, then resumed: nothing lost.

A SIGKILL runs no handler, so what is on disk is what the writes had finished. Both
examples' command lines are tested, FashionMNIST's at more points. Each case
runs the CLI in a child process that kills itself at a chosen point: inside the k-th file
write (the temporary file complete, the rename not yet done) or in the middle of an
epoch. Afterwards every file under a real name must be intact; ``--resume`` (or, when
no checkpoint had been written yet, a fresh run) must end with checkpoints and metrics
equal to an uninterrupted run's, and the killed writer's hidden temporary files must be
gone (the next write of each name removes those of dead processes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import refnet
from refnet.examples.fashion_mnist import cli
from tests.test_fashion_mnist_cli import TINY, _write_split, assert_same_state, history

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
ROOT = Path(__file__).resolve().parents[1]
EPOCHS = ["--epochs", "3"]

#: The child: kill this process at the k-th os.replace (the k-th finished file write,
#: just before its rename), or at the k-th optimizer step's zero_grad (3 per epoch).
CHILD = """
import importlib, os, signal, sys
kill_at, point, example = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cli = importlib.import_module(f"refnet.examples.{example}.cli")
from refnet.optim.optimizer import Optimizer
if point == "write":
    real_replace, count = os.replace, [0]
    def replace(source, target):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(source, target)
    os.replace = replace
else:
    real_zero_grad, steps = Optimizer.zero_grad, [0]
    def zero_grad(self, *args, **kwargs):
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_zero_grad(self, *args, **kwargs)
    Optimizer.zero_grad = zero_grad
sys.exit(cli.main(sys.argv[4:]))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("fashion")
    _write_split(directory, "train", 60, seed=0)
    return directory


@pytest.fixture(scope="module")
def straight(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("straight")
    assert cli.main([*TINY, *EPOCHS, "--data-dir", str(data_dir), "--out-dir", str(out)]) == 0
    return out


def without_times(checkpoint: Any) -> Any:
    for entry in checkpoint["history"]:
        for key in ("seconds", "train_seconds", "images_per_s"):
            del entry[key]
    return checkpoint


def killed_run(args: list[str], kill_at: int, point: str, example: str = "fashion_mnist") -> int:
    child = [sys.executable, "-c", CHILD, str(kill_at), point, example, *args]
    done = subprocess.run(child, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode


def assert_intact(out: Path) -> None:
    """Every file under its real name reads completely."""
    for path in out.glob("*.npz"):
        refnet.load(path)
    for path in out.glob("*.json"):
        json.loads(path.read_text())


@pytest.mark.parametrize(
    ("kill_at", "point"),
    [(1, "write"), (2, "write"), (5, "write"), (8, "write"), (11, "write"), (5, "step")],
    ids=lambda v: str(v),
)
def test_a_sigkill_then_resume_ends_as_an_uninterrupted_run(
    data_dir: Path, straight: Path, tmp_path: Path, kill_at: int, point: str
) -> None:
    out = tmp_path / "run"
    args = [*TINY, *EPOCHS, "--data-dir", str(data_dir), "--out-dir", str(out)]
    assert killed_run(args, kill_at, point) == -signal.SIGKILL
    assert_intact(out)
    if point == "write":  # the write that was cut short left its temporary file
        assert any(p.name.endswith(".tmp") for p in out.iterdir())
    resume = ["--resume", "--out-dir", str(out), "--data-dir", str(data_dir), "--no-plots"]
    code = cli.main(resume)
    if not (out / "latest.npz").exists():  # killed before the first checkpoint: --resume
        assert code == 2  # says there is nothing to resume, and a fresh run starts over
        code = cli.main([*TINY, *EPOCHS, "--data-dir", str(data_dir), "--out-dir", str(out),
                         "--overwrite"])  # fmt: skip
    assert code == 0
    for name in ("latest.npz", "best.npz"):
        ours = without_times(refnet.load(out / name))
        theirs = without_times(refnet.load(straight / name))
        assert_same_state(ours, theirs, name)
    assert history(out) == history(straight)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in straight.iterdir())


# ---------------------------------------------------------------------- Shakespeare

TEXT_FLAGS = [
    "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16",
    "--batch-size", "4", "--warmup-iters", "2", "--eval-iters", "1", "--iters", "12",
    "--eval-interval", "4", "--no-plots", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "play.txt"
    path.write_text("ROMEO.\nBut soft, what light through yonder window breaks?\n" * 200)
    return path


def shakespeare(text_file: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(text_file), "--out-dir", str(out), *extra]


@pytest.fixture(scope="module")
def straight_text(text_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from refnet.examples.shakespeare import cli as text_cli

    out = tmp_path_factory.mktemp("straight-text")
    assert text_cli.main(shakespeare(text_file, out, *TEXT_FLAGS)) == 0
    return out


def text_trajectory(path: Path) -> Any:
    checkpoint = refnet.load(path)
    checkpoint["history"] = [
        {k: v for k, v in h.items() if k != "seconds"} for h in checkpoint["history"]
    ]
    checkpoint.pop("seconds", None)
    return checkpoint


@pytest.mark.parametrize(
    ("kill_at", "point"), [(1, "write"), (4, "write"), (6, "step")], ids=lambda v: str(v)
)
def test_the_shakespeare_run_survives_a_sigkill_too(
    text_file: Path, straight_text: Path, tmp_path: Path, kill_at: int, point: str
) -> None:
    from refnet.examples.shakespeare import cli as text_cli

    out = tmp_path / "run"
    args = shakespeare(text_file, out, *TEXT_FLAGS)
    assert killed_run(args, kill_at, point, "shakespeare") == -signal.SIGKILL
    assert_intact(out)
    assert (point == "write") == any(p.name.endswith(".tmp") for p in out.iterdir())
    code = text_cli.main(shakespeare(text_file, out, "--resume", "--no-plots", "--no-progress"))
    if not (out / "latest.npz").exists():
        assert code == 2
        code = text_cli.main([*args, "--overwrite"])
    assert code == 0
    for name in ("latest.npz", "best.npz"):
        ours, theirs = text_trajectory(out / name), text_trajectory(straight_text / name)
        assert_same_state(ours, theirs, name)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in straight_text.iterdir())
