"""Chapter 10's run: lenet's default recipe on the 8,226-image subset, its figures and numbers.

Runs ``python -m refnet.examples.fashion_mnist --model lenet`` (seed 0, 10 epochs, SGD
with momentum, one-cycle) on the FashionMNIST IDX files in ``--data-dir`` (the first
8,226 images of the official training split: the example trains on the first 7,000 and
validates on the last 1,226), then copies the run's four figures into ``--out-dir``
(default ``docs/figures``) as ``fashion_mnist_lenet_*.png`` and writes
``docs/_generated/fashion_mnist_lenet_run.md`` (into ``--out-dir`` with ``--quick``): the
per-epoch table, the final and best accuracy, the time, and where the gradient norms and
the learning rate peak, which the chapter includes.

Run: ``python docs/scripts/fashion_mnist_run.py --data-dir DIR`` (about a minute and a
half on 2 cores), or ``--from-run RUN`` to take the ``metrics.json`` and figures of a
finished run of the same command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import refnet.optim as optim
from refnet.examples.fashion_mnist.training import make_scheduler
from refnet.nn import Parameter

DOCS = Path(__file__).resolve().parents[1]
FIGURES = ("curves", "confusion_matrix", "predictions", "grad_norms")
COMMAND = (
    "python -m refnet.examples.fashion_mnist --model lenet --no-progress \\\n"
    "    --data-dir DIR --out-dir runs/lenet"
)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DOCS / "figures")
    parser.add_argument("--quick", action="store_true", help="one epoch (the smoke test)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="directory of the IDX files: the first 8,226 training images "
        "(default: $REFNET_DATA_DIR, else ~/.cache/refnet/fashion-mnist)",
    )
    parser.add_argument("--from-run", type=Path, help="a finished run directory to use")
    return parser.parse_args()


def train(data_dir: Path | None, run: Path, quick: bool) -> None:
    data = [] if data_dir is None else ["--data-dir", str(data_dir)]
    tiny = ["--epochs", "1", "--grad-norm-every", "1"] if quick else []
    command = [
        sys.executable, "-m", "refnet.examples.fashion_mnist", "--model", "lenet",
        "--no-progress", "--out-dir", str(run), "--overwrite", *data, *tiny,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def learning_rates(config: dict[str, Any], steps_per_epoch: int) -> np.ndarray:
    """The learning rate of steps 1, 2, ... (index 0 is step 1), from the example's own
    scheduler."""
    optimizer = optim.SGD([Parameter(np.zeros(1))], lr=config["lr"], momentum=0.9)
    scheduler = make_scheduler(
        config["scheduler"],
        optimizer,
        lr=config["lr"],
        epochs=config["epochs"],
        steps_per_epoch=steps_per_epoch,
    )
    rates = []
    for _ in range(config["epochs"] * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        if scheduler is not None:
            scheduler.step()
    return np.array(rates)


def epoch_table(history: list[dict[str, float]]) -> str:
    rows = [
        "| epoch | train loss | train accuracy | val loss | val accuracy | lr after the epoch |",
        "|---|---|---|---|---|---|",
    ]
    for h in history:
        rows.append(
            f"| {h['epoch']} | {h['train_loss']:.3f} | {h['train_acc']:.2%} | "
            f"{h['val_loss']:.3f} | {h['val_acc']:.2%} | {h['lr']:.2g} |"
        )
    return "\n".join(rows)


def gradient_sentence(metrics: dict[str, Any], steps_per_epoch: int) -> str:
    steps = np.array(metrics["grad_norms"]["steps"])
    norms = metrics["grad_norms"]["norms"]
    rates = learning_rates(metrics["config"], steps_per_epoch)
    peaks = []
    for layer, values in norms.items():
        k = int(np.argmax(values))
        ratio = values[k] / float(np.median(values))
        peaks.append(f"`{layer}` at step {steps[k]} ({ratio:.1f} times its median)")
    biggest = max(norms, key=lambda layer: max(norms[layer]))
    at = int(steps[int(np.argmax(norms[biggest]))])  # steps are 1-based
    rate = rates[at - 1]
    return (
        f"Each layer's largest gradient norm: {'; '.join(peaks)}. At step {at} the "
        f"learning rate was {rate:.2g}, {rate / rates.max():.0%} of its peak; the "
        f"one-cycle schedule reaches its peak of {rates.max():.2g} at step "
        f"{int(np.argmax(rates)) + 1} of {len(rates):,} ({steps_per_epoch} steps per epoch)."
    )


def fragment(metrics: dict[str, Any]) -> str:
    history = metrics["history"]
    last, best = history[-1], metrics["best"]
    config = metrics["config"]
    steps_per_epoch = int(np.ceil(metrics["train_images"] / config["batch_size"]))
    seconds = sum(h["seconds"] for h in history)
    return "\n".join(
        [
            "```bash",
            COMMAND,
            "```",
            "",
            epoch_table(history),
            "",
            f"After {last['epoch']} epochs the validation accuracy is "
            f"**{last['val_acc']:.2%}** (validation loss {last['val_loss']:.3f}); the best "
            f"epoch was epoch {best['epoch']} with {best['val_acc']:.2%}. The run took "
            f"{seconds:.0f} s (training and evaluation; "
            f"{np.mean([h['images_per_s'] for h in history]):,.0f} training images per "
            "second) on 2 shared CPU cores.",
            "",
            gradient_sentence(metrics, steps_per_epoch),
            "",
        ]
    )


def read_metrics(run: Path) -> dict[str, Any]:
    metrics: dict[str, Any] = json.loads((run / "metrics.json").read_text())
    counts = np.array(metrics["confusion_matrix"]["counts"])
    # the training split's size is in the data description: "train on 7,000 images, ..."
    described = metrics["data"].split("train on ")[1].split(" images")[0]
    metrics["train_images"] = int(described.replace(",", ""))
    metrics["val_images"] = int(counts.sum())
    return metrics


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory() as scratch:
        run = args.from_run or Path(scratch) / "run"
        if args.from_run is None:
            train(args.data_dir, run, args.quick)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for name in FIGURES:
            shutil.copyfile(run / f"{name}.png", args.out_dir / f"fashion_mnist_lenet_{name}.png")
        target = (
            args.out_dir if args.quick else DOCS / "_generated"
        ) / "fashion_mnist_lenet_run.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fragment(read_metrics(run)))
    print(f"wrote {args.out_dir / 'fashion_mnist_lenet_curves.png'} and {target}")


if __name__ == "__main__":
    main()
