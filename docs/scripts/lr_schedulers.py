"""Figure for chapter 7: the learning rate that refnet's schedulers produce, step by step.

Each scheduler drives a real ``refnet.optim.SGD`` over 100 steps; we record
``optimizer.param_groups[0]["lr"]`` before every ``step()``, as a training loop sees it.
Run: ``python docs/scripts/lr_schedulers.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _common import parse_args, save

import refnet.optim as optim
from refnet.nn import Parameter
from refnet.optim import lr_scheduler as S

STEPS = 100
BASE_LR = 0.1

Factory = Callable[[optim.Optimizer], S.LRScheduler]

SCHEDULERS: dict[str, Factory] = {
    "StepLR(step_size=30, gamma=0.5)": lambda o: S.StepLR(o, step_size=30, gamma=0.5),
    "MultiStepLR([50, 80], gamma=0.1)": lambda o: S.MultiStepLR(o, [50, 80], gamma=0.1),
    "ExponentialLR(gamma=0.97)": lambda o: S.ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR(T_max=100)": lambda o: S.CosineAnnealingLR(o, T_max=STEPS),
    "CosineAnnealingWarmRestarts(T_0=20, T_mult=2)": lambda o: S.CosineAnnealingWarmRestarts(
        o, T_0=20, T_mult=2
    ),
    "LinearLR warm-up (10 steps), then cosine (SequentialLR)": lambda o: S.SequentialLR(
        o,
        [
            S.LinearLR(o, start_factor=0.01, total_iters=10),
            S.CosineAnnealingLR(o, T_max=STEPS - 10),
        ],
        milestones=[10],
    ),
    "OneCycleLR(max_lr=0.1)": lambda o: S.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS),
    "CyclicLR(0.01, 0.1, step_size_up=10, 'triangular2')": lambda o: S.CyclicLR(
        o, base_lr=0.01, max_lr=BASE_LR, step_size_up=10, mode="triangular2"
    ),
}


def lr_curve(make: Factory, steps: int) -> list[float]:
    """The learning rate used by each of ``steps`` optimizer steps."""
    optimizer = optim.SGD([Parameter(np.zeros(1))], lr=BASE_LR, momentum=0.9)
    scheduler = make(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    steps = 20 if args.quick else STEPS
    fig, axes = plt.subplots(2, 4, figsize=(15, 6), sharex=True, sharey=True)
    for ax, (name, make) in zip(axes.flat, SCHEDULERS.items(), strict=True):
        ax.plot(lr_curve(make, steps), lw=1.8)
        ax.set_title(name, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    for ax in axes[:, 0]:
        ax.set_ylabel("learning rate")
    fig.suptitle(f"refnet.optim.lr_scheduler, base lr {BASE_LR}")
    fig.tight_layout()
    save(fig, args.out_dir, "lr_schedulers.png", args.quick)


if __name__ == "__main__":
    main()
