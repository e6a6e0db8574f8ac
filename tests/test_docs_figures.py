"""The figure scripts in docs/scripts/ still run (quickly), so the figures can be remade.

Each script runs in ``--quick`` mode (a few steps, low resolution) into a temporary
directory and must write its PNG. The committed figures in docs/figures/ come from full
runs; every figure a page shows must exist there.
"""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCRIPTS = DOCS / "scripts"

# script -> the PNG it writes
FIGURES = {
    "optimizer_trajectories.py": "optimizer_trajectories.png",
    "learning_rates.py": "learning_rates.png",
    "lr_schedulers.py": "lr_schedulers.png",
    "rnn_gradients.py": "rnn_gradients.png",
    "shakespeare_run.py": "shakespeare_gpt_curves.png",
    "attention_weights.py": "attention_weights.png",
    "fashion_mnist_run.py": "fashion_mnist_lenet_curves.png",
    "computational_graph.py": "computational_graph.png",
    "initialisation.py": "initialisation.png",
    "regularisation.py": "regularisation.png",
}
NEEDS_FASHION_MNIST = {"learning_rates.py", "fashion_mnist_run.py", "regularisation.py"}


def fake_fashion_mnist(directory: Path, n: int = 256) -> Path:
    """A FashionMNIST-shaped training split of random images (the real one is not needed
    to check that the script runs)."""
    from refnet.data import write_idx

    rng = np.random.default_rng(0)
    directory.mkdir()
    write_idx(directory / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), np.uint8))
    write_idx(directory / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    return directory


# Scripts that compare with the torch replica (skipped, like every torch comparison,
# where torch is not installed).
NEEDS_TORCH = {"shakespeare_run.py"}

# Scripts in docs/scripts that make no figure (tested elsewhere).
NOT_FIGURES = {"notebooks.py"}  # tests/test_docs_notebooks.py


def test_every_script_is_listed() -> None:
    scripts = {p.name for p in SCRIPTS.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(FIGURES) | NOT_FIGURES


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_script_runs_quickly(
    script: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    if script in NEEDS_TORCH:
        pytest.importorskip("torch")
    args = ["--quick", "--out-dir", str(tmp_path / "out")]
    if script in NEEDS_FASHION_MNIST:
        args += ["--data-dir", str(fake_fashion_mnist(tmp_path / "data"))]
    monkeypatch.setattr(sys, "argv", [script, *args])
    monkeypatch.syspath_prepend(str(SCRIPTS))
    runpy.run_path(str(SCRIPTS / script), run_name="__main__")
    assert (tmp_path / "out" / FIGURES[script]).stat().st_size > 1000


def test_every_image_on_a_page_exists() -> None:
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).is_file(), f"{page.name}: missing image {target}"


def test_fashion_mnist_chapter_reads_its_run_correctly() -> None:
    """Chapter 10 says the gradient-norm spike comes in the first epoch, while the
    learning rate is a small fraction of its peak, and that the peak comes a third of
    the way through; the included run (docs/_generated) must say so too."""
    run = (DOCS / "_generated" / "fashion_mnist_lenet_run.md").read_text(encoding="utf-8")
    linear = [int(s) for s in re.findall(r"`\d+ Linear` at step (\d+)", run)]
    share = re.search(r"the learning rate was [\d.e-]+, (\d+)% of its peak", run)
    peak = re.search(r"peak of [\d.e-]+ at step (\d+) of ([\d,]+) \((\d+) steps per epoch\)", run)
    assert linear and share and peak, "the run's summary no longer has the expected sentences"
    peak_step, total, per_epoch = (int(g.replace(",", "")) for g in peak.groups())
    assert all(step <= per_epoch for step in linear)
    assert int(share[1]) < 25
    assert 0.25 < peak_step / total < 0.35
    chapter = (DOCS / "fashion-mnist.md").read_text(encoding="utf-8")
    assert '--8<-- "_generated/fashion_mnist_lenet_run.md"' in chapter


def test_optimizer_chapter_describes_its_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 6's reading of the trajectories: on the valley RMSprop and Adagrad end
    closest to the minimum and Adam further than SGD; on Rosenbrock Adam reaches (1, 1),
    RMSprop, momentum and Nesterov most of the way, SGD and Adagrad stall."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    pytest.importorskip("matplotlib")
    script = runpy.run_path(str(SCRIPTS / "optimizer_trajectories.py"))

    def final_values(problem: str) -> dict[str, float]:
        f, grad, start, steps, lrs, _ = script["PROBLEMS"][problem]
        return {
            label: float(f(script["trajectory"](make, grad, start, lrs[label], steps)[-1]))
            for label, make in script["OPTIMIZERS"].items()
        }

    valley = final_values("valley")
    best = sorted(valley, key=valley.__getitem__)
    assert set(best[:2]) == {"RMSprop", "Adagrad"}
    assert valley["Adam"] > valley["SGD"]
    banana = final_values("rosenbrock")
    assert banana["Adam"] < 1e-4
    most = max(banana[k] for k in ("RMSprop", "momentum 0.9", "Nesterov 0.9"))
    assert most < 0.1 < min(banana["SGD"], banana["Adagrad"])
    assert abs(banana["momentum 0.9"] - banana["Nesterov 0.9"]) < 0.01


def test_initialisation_chapter_describes_its_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chapter 3a's reading of the histograms: too small vanishes forward and backward,
    too large saturates tanh while the lower layers' gradients grow, Xavier and Kaiming
    keep both of order 1."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    pytest.importorskip("matplotlib")
    script = runpy.run_path(str(SCRIPTS / "initialisation.py"))
    stds = {}
    for label, (activation, initialise) in script["INITS"].items():
        net = script["deep_network"](activation, initialise)
        outputs, grads = script["activations_and_gradients"](net, 128)
        stds[label.split(":")[0]] = (outputs, grads)
    small_out, small_grad = stds["tanh, N(0, 0.01²)"]
    assert small_out[10].std() < 1e-4 and small_grad[2].std() < 1e-4
    large_out, large_grad = stds["tanh, N(0, 1)"]
    assert np.mean(np.abs(large_out[6]) > 0.9) > 0.5 and large_grad[2].std() > 10
    for label in ("tanh, Xavier", "ReLU, Kaiming (fan_in)"):
        out, grad = stds[label]
        assert all(0.1 < out[k].std() < 2 and 0.3 < grad[k].std() < 3 for k in (2, 6, 10))


def test_regularisation_chapter_reads_its_run_correctly() -> None:
    """Chapter 7a: the plain run's validation loss has its minimum early and ends higher;
    dropout ends with a lower validation loss than the plain run; weight decay 0.1 hardly
    changes it; the four validation accuracies stay within about a point."""
    table = (DOCS / "_generated" / "regularisation_run.md").read_text(encoding="utf-8")
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells
    plain, decay, dropout = rows["plain"], rows["weight decay 0.1"], rows["dropout 0.5"]
    lowest, epoch = plain[4].split()
    assert float(plain[2]) > 1.3 * float(lowest) and int(epoch.strip("()")) <= 15
    assert float(dropout[2]) < float(plain[2])
    assert abs(float(decay[2]) - float(plain[2])) < 0.1 * float(plain[2])
    accuracies = [float(cells[3].rstrip("%")) for cells in rows.values()]
    assert max(accuracies) - min(accuracies) < 2.5
