"""Figure for chapter 7: training loss for several learning rates (real refnet runs).

An MLP 784-128-10 (ReLU) trained with SGD (momentum 0.9) on the first 4,000 FashionMNIST
training images, normalised, one run per learning rate from the same initial weights and
the same batches; then three schedules. Needs the FashionMNIST training split's IDX
files (any directory holding at least its first 4,000 images): ``--data-dir`` (default:
``$REFNET_DATA_DIR``, then refnet's cache, where ``FashionMNIST(download=True)`` puts
them).

Run: ``python docs/scripts/learning_rates.py --data-dir DIR`` (a few seconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import add_data_dir, make_parser, save

import refnet
import refnet.nn as nn
import refnet.optim as optim
from refnet.data import DataLoader, Dataset, FashionMNIST, Subset
from refnet.optim import lr_scheduler

LEARNING_RATES = (1e-4, 1e-3, 1e-2, 0.1, 0.5, 2.0)
MEAN, STD = 0.2860, 0.3530  # FashionMNIST's pixel statistics
TRAIN_IMAGES = 4000
EPOCHS = 5
BATCH = 64
SCHEDULES = ((0.1, "constant"), (0.1, "cosine"), (0.1, "onecycle"))
DIVERGED = 1e3  # a loss this large (log 10 ≈ 2.3 at the start) will not come back
TOP = 20.0  # the left panel's upper limit: a diverged run is drawn up to it and marked


def model(seed: int) -> nn.Sequential:
    refnet.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def train(
    data: Dataset, lr: float, epochs: int, seed: int = 0, schedule: str = "constant"
) -> list[float]:
    """The loss of every step, up to the first one above ``DIVERGED`` (or not finite).

    Every run gets the same initial weights and the same batches in the same order.
    """
    loader = DataLoader(data, batch_size=BATCH, shuffle=True, generator=seed)
    net = model(seed)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    steps = epochs * len(loader)
    scheduler: lr_scheduler.LRScheduler | None = None
    if schedule == "cosine":
        scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    elif schedule == "onecycle":
        scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    losses: list[float] = []
    with np.errstate(all="ignore"):  # a diverging run overflows; that is the point
        for _ in range(epochs):
            for images, labels in loader:
                optimizer.zero_grad()
                loss = criterion(net(images), labels)
                losses.append(loss)
                if not loss < DIVERGED:  # catches NaN too
                    return losses
                net.backward(criterion.backward())
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
    return losses


def smooth(values: list[float], width: int) -> np.ndarray:
    a = np.array(values, dtype=float)
    if len(a) < width:
        return a
    return np.convolve(a, np.ones(width) / width, mode="valid")


def plain_log_ticks(axes: Any, ticks: tuple[float, ...]) -> None:
    """Label a log axis at ``ticks`` as plain numbers (0.3, 1, 2), without minor labels."""
    from matplotlib import ticker

    axes.yaxis.set_major_locator(ticker.FixedLocator(ticks))
    axes.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.yaxis.set_minor_formatter(ticker.NullFormatter())


def main(argv: list[str] | None = None) -> None:
    args = add_data_dir(make_parser(__doc__.splitlines()[0])).parse_args(argv)
    import matplotlib.pyplot as plt

    data = FashionMNIST(args.data_dir, train=True, transform=lambda x: (x - MEAN) / STD)
    n = min(len(data), 512 if args.quick else TRAIN_IMAGES)
    epochs = 1 if args.quick else EPOCHS
    subset = Subset(data, np.arange(n))

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 1 if args.quick else 10
    for lr in LEARNING_RATES:
        losses = train(subset, lr, epochs)
        diverged = not losses[-1] < DIVERGED
        shown = np.array(losses) if diverged else smooth(losses, width)
        start = 0 if diverged else width - 1
        label = f"lr {lr:g}" + (
            f": loss > {DIVERGED:g} at step {len(losses)}"
            if diverged
            else f": final {np.mean(losses[-width:]):.2f}"
        )
        shown = np.minimum(shown, TOP)
        (line,) = left.plot(np.arange(len(shown)) + start, shown, label=label)
        if diverged:  # off the top of the panel: an arrow where it leaves
            left.plot(len(losses) - 1, TOP, "^", color=line.get_color(), ms=9, clip_on=False)
    left.set_yscale("log")
    left.set_ylim(0.25, TOP)
    left.set_xlabel("step (batch of 64)")
    left.set_ylabel(f"training loss ({width}-step mean)")
    left.set_title(f"SGD on an MLP, {n} FashionMNIST images, {epochs} epochs")
    left.legend(fontsize=8)

    for lr, schedule in SCHEDULES:
        losses = train(subset, lr, epochs, schedule=schedule)
        shown = smooth(losses, width)
        name = f"{schedule} {lr:g}" if schedule == "constant" else f"{schedule}, peak {lr:g}"
        right.plot(
            np.arange(len(shown)) + width - 1,
            shown,
            label=f"{name}: final {np.mean(losses[-width:]):.2f}",
        )
    right.set_yscale("log")
    right.set_ylim(0.25, 3)
    right.set_ylabel(f"training loss ({width}-step mean)")
    right.set_xlabel("step (batch of 64)")
    right.set_title("schedules: anneal at the end, warm up at the start")
    right.legend(fontsize=8)
    plain_log_ticks(left, (0.3, 0.5, 1, 2, 5, 10, 20))
    plain_log_ticks(right, (0.3, 0.5, 1, 2, 3))
    save(fig, args.out_dir, "learning_rates.png", args.quick)


if __name__ == "__main__":
    main()
