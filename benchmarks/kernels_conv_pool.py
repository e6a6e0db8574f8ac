"""Convolution and pooling kernels (and the two small CNN training steps) vs PyTorch on CPU.

    python benchmarks/kernels_conv_pool.py [--reps 21] [--threads 2] [--only conv,pool,step]

Each case runs refnet and torch alternately, ``reps`` times after a warm-up, with the same
weights and inputs (float32, plain C-contiguous NCHW arrays, torch at ``--threads``
threads), and prints the median times (``--stat min``: the fastest, an estimate of the
speed on an idle machine when other processes share the cores) and their ratio. The
machine is shared and noisy: only ratios measured in one run mean much. Layers are timed
as a training step uses them: forward, then backward with a fresh upstream gradient;
torch's input does not require a gradient in the training steps (the first layer's input
gradient is wasted work there), but does in the single-layer cases, where refnet
computes it too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

import refnet.nn as nn
import refnet.optim as optim
from refnet.interop.torch import to_torch

Case = tuple[Callable[[], object], Callable[[], object]]


def race(
    refnet_fn: Callable[[], object],
    torch_fn: Callable[[], object],
    reps: int,
    stat: Callable[[list[float]], Any] = np.median,
    lead_in: int = 1,
) -> tuple[float, float]:
    """Milliseconds of each (``stat`` of the samples: the median by default), measured
    alternately (the order flips every round).

    Each timed call follows ``lead_in`` untimed calls of the same function: OpenBLAS's
    idle workers spin for ~0.1 s after a product (torch's OpenMP workers spin too), so a
    call timed right after the other library's competes with its spinning threads
    (strict alternation made torch up to twice slower than alone and flattered refnet);
    the lead-in lets the other side go quiet and times this side in its steady state.
    """
    for _ in range(2):
        refnet_fn(), torch_fn()
    times: dict[str, list[float]] = {"refnet": [], "torch": []}
    for rep in range(reps):
        pair = [("refnet", refnet_fn), ("torch", torch_fn)]
        for name, fn in pair if rep % 2 == 0 else reversed(pair):
            for _ in range(lead_in):
                fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return float(stat(times["refnet"]) * 1e3), float(stat(times["torch"]) * 1e3)


def layer_case(module: nn.Module, shape: tuple[int, ...], backward: bool, seed: int = 0) -> Case:
    """One layer, forward (and backward) on a fixed input, in refnet and in torch."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    theirs = to_torch(module)
    tx = torch.from_numpy(x.copy()).requires_grad_(backward)
    y = module(x)
    g = rng.standard_normal(y.shape).astype(np.float32)
    tg = torch.from_numpy(g.copy())

    def ours() -> None:
        out = module(x)
        if backward:
            module.backward(g)
        del out

    def torchs() -> None:
        if backward:
            tx.grad = None
            theirs.zero_grad()
            theirs(tx).backward(tg)
        else:
            with torch.no_grad():
                theirs(tx)

    return ours, torchs


def lenet(seed: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 10, 5, generator=seed),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(10, 20, 5, generator=seed + 1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(320, 50, generator=seed + 2),
        nn.ReLU(),
        nn.Linear(50, 10, generator=seed + 3),
    )


def cnn(seed: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, generator=seed),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, generator=seed + 1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3136, 128, generator=seed + 2),
        nn.ReLU(),
        nn.Linear(128, 10, generator=seed + 3),
    )


def skip_first(model: nn.Sequential) -> nn.Sequential:
    """The first layer's input is the data: nobody needs its gradient."""
    model[0].needs_input_grad = False
    return model


def step_case(model: nn.Sequential, batch: int, make_optimizer: str) -> Case:
    """A full training step: zero_grad, forward, cross-entropy, backward, optimizer step."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    theirs = to_torch(model)
    tx, tlabels = torch.from_numpy(x.copy()), torch.from_numpy(labels)
    criterion, their_criterion = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    ours_opt: optim.Optimizer
    if make_optimizer == "sgd":
        ours_opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        their_opt: torch.optim.Optimizer = torch.optim.SGD(
            theirs.parameters(), lr=0.01, momentum=0.9
        )
    else:
        ours_opt = optim.Adam(model.parameters(), lr=1e-3)
        their_opt = torch.optim.Adam(theirs.parameters(), lr=1e-3)

    def ours() -> None:
        ours_opt.zero_grad()
        criterion(model(x), labels)
        model.backward(criterion.backward())
        ours_opt.step()

    def torchs() -> None:
        their_opt.zero_grad()
        their_criterion(theirs(tx), tlabels).backward()
        their_opt.step()

    return ours, torchs


LayerMaker = Callable[[], nn.Module]

CONV: dict[str, tuple[LayerMaker, tuple[int, ...]]] = {
    "Conv2d 32->64 k3 p1, 128x32x14x14": (
        lambda: nn.Conv2d(32, 64, 3, padding=1, generator=0),
        (128, 32, 14, 14),
    ),
    "Conv2d 1->32 k3 p1, 128x1x28x28": (
        lambda: nn.Conv2d(1, 32, 3, padding=1, generator=0),
        (128, 1, 28, 28),
    ),
    "Conv2d 1->10 k5, 64x1x28x28": (lambda: nn.Conv2d(1, 10, 5, generator=0), (64, 1, 28, 28)),
    "Conv2d 10->20 k5, 64x10x12x12": (lambda: nn.Conv2d(10, 20, 5, generator=0), (64, 10, 12, 12)),
}
POOL: dict[str, tuple[LayerMaker, tuple[int, ...]]] = {
    "MaxPool2d(2), 128x32x28x28": (lambda: nn.MaxPool2d(2), (128, 32, 28, 28)),
    "MaxPool2d(2), 64x10x24x24": (lambda: nn.MaxPool2d(2), (64, 10, 24, 24)),
    "AvgPool2d(2), 128x32x28x28": (lambda: nn.AvgPool2d(2), (128, 32, 28, 28)),
}


def cases() -> dict[str, dict[str, Callable[[], Case]]]:
    out: dict[str, dict[str, Callable[[], Case]]] = {"conv": {}, "pool": {}, "step": {}}
    for group, table in (("conv", CONV), ("pool", POOL)):
        for name, (make, shape) in table.items():
            for backward in (False, True):
                label = f"{name}, {'fwd+bwd' if backward else 'fwd'}"
                out[group][label] = partial(layer_case_of, make, shape, backward)
    steps = out["step"]
    steps["LeNet step, batch 64, SGD momentum"] = lambda: step_case(lenet(0), 64, "sgd")
    steps["LeNet step, first conv skips its input gradient"] = lambda: step_case(
        skip_first(lenet(0)), 64, "sgd"
    )
    steps["CNN step, batch 128, Adam"] = lambda: step_case(cnn(0), 128, "adam")
    steps["CNN step, first conv skips its input gradient"] = lambda: step_case(
        skip_first(cnn(0)), 128, "adam"
    )
    return out


def layer_case_of(make: LayerMaker, shape: tuple[int, ...], backward: bool) -> Case:
    return layer_case(make(), shape, backward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument(
        "--lead-in", type=int, default=1, help="untimed calls before each timed call"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="conv,pool,step", help="comma-separated groups")
    parser.add_argument(
        "--stat",
        choices=["median", "min"],
        default="median",
        help="min estimates the unloaded speed when other processes share the cores",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'case':58s} {'refnet ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
    for group, table in cases().items():
        if group not in args.only.split(","):
            continue
        for label, make in table.items():
            ours, theirs = make()
            stat = np.median if args.stat == "median" else np.min
            ours_ms, torch_ms = race(ours, theirs, args.reps, stat, args.lead_in)
            print(
                f"{label:58s} {ours_ms:10.2f} {torch_ms:10.2f} {ours_ms / torch_ms:7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
