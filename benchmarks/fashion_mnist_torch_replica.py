"""The FashionMNIST example's recipes in PyTorch, to measure what "PyTorch-level" means.

    python -m benchmarks.fashion_mnist_torch_replica --model cnn [--seeds 0 1 2] [--json out.json]
    python -m benchmarks.fashion_mnist_torch_replica --model lenet --data-dir DIR

Same architectures (written here in plain ``torch.nn``), PyTorch's default initialisation
(which refnet's layers reproduce), the same optimizer, learning rate, batch size, epochs
and scheduler (the defaults come from ``refnet.examples.fashion_mnist.models.RECIPES``
and every flag overrides them, as in the refnet CLI), the same input standardisation and
the same data split: on the 8k subset, train on the first 7,000 images and validate on
the last 1,226 (``--val-size``); with the official test split present, train on all
60,000 and validate on the 10,000 test images.

What differs from a refnet run with the same seed: torch draws its own initial weights,
shuffling order and dropout masks. ``--same-init`` copies refnet's initial weights for the
seed and takes the batches in refnet's order instead (for the cnn only in the first
epoch: refnet's dropout masks come from the same generator as its shuffling, so its later
orders depend on draws that torch does not make), leaving floating-point rounding (and
the cnn's dropout masks) as the only differences. Single runs differ by tenths of a
percent on 1,226 images (one image is 0.08%); compare means over ``--seeds``.

Timing: torch runs at ``--threads`` threads (2 by default, the machine's cores). Times
on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from refnet.data import DataLoader as RefnetLoader
from refnet.data import TensorDataset
from refnet.examples.fashion_mnist.data import load_splits
from refnet.examples.fashion_mnist.models import RECIPES


def mlp() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )  # fmt: skip


def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(320, 50), nn.ReLU(), nn.Linear(50, 10),
    )  # fmt: skip


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
    )  # fmt: skip


MODELS = {"mlp": mlp, "lenet": lenet, "cnn": cnn}


def make_optimizer(args: argparse.Namespace, model: nn.Module) -> torch.optim.Optimizer:
    params, lr, wd = model.parameters(), args.lr, args.weight_decay
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=wd)
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=args.momentum, weight_decay=wd)
    raise ValueError(f"unknown optimizer {args.optimizer!r}")


def make_scheduler(
    args: argparse.Namespace, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The refnet CLI's schedules, stepped once per batch (see its ``training`` module)."""
    total = args.epochs * steps_per_epoch
    if args.scheduler == "none":
        return None
    if args.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=steps_per_epoch, gamma=0.7)
    if args.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if args.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=total)
    raise ValueError(f"unknown scheduler {args.scheduler!r}")


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 500]) for i in range(0, len(x), 500)])
        loss = nn.functional.cross_entropy(logits, y).item()
        accuracy = (logits.argmax(1) == y).double().mean().item()
    return loss, accuracy


def run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    torch.manual_seed(seed)
    splits = load_splits(args.data_dir, val_size=args.val_size, train_size=args.train_size)
    x_train, y_train = map(torch.from_numpy, splits.train.get_batch(np.arange(len(splits.train))))
    x_val, y_val = map(torch.from_numpy, splits.val.get_batch(np.arange(len(splits.val))))
    model = MODELS[args.model]()
    order_source: RefnetLoader | None = None
    if args.same_init:
        from refnet.examples.fashion_mnist.models import build_model
        from refnet.interop.torch import to_torch

        rng = np.random.default_rng(seed)
        model.load_state_dict(to_torch(build_model(args.model, rng)).state_dict())
        indices = TensorDataset(np.arange(len(y_train)))
        order_source = RefnetLoader(
            indices, batch_size=args.batch_size, shuffle=True, generator=rng
        )
    optimizer = make_optimizer(args, model)
    steps_per_epoch = -(-len(y_train) // args.batch_size)
    scheduler = make_scheduler(args, optimizer, steps_per_epoch)
    history = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        if order_source is not None:
            batches = [batch[0] for batch in order_source]
        else:
            batches = list(torch.randperm(len(y_train)).split(args.batch_size))
        total_loss, correct = 0.0, 0
        for batch in batches:
            index = torch.as_tensor(np.asarray(batch))
            inputs, labels = x_train[index], y_train[index]
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = nn.functional.cross_entropy(outputs, labels)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(labels)
            correct += int((outputs.argmax(1) == labels).sum())
        val_loss, val_acc = evaluate(model, x_val, y_val)
        seconds = time.perf_counter() - start
        history.append(
            {
                "epoch": epoch,
                "train_loss": total_loss / len(y_train),
                "train_acc": correct / len(y_train),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "time_s": seconds,
            }
        )
        print(
            f"seed {seed} epoch {epoch:2d}  train loss {history[-1]['train_loss']:.4f} "
            f"acc {history[-1]['train_acc']:.2%}  val loss {val_loss:.4f} acc {val_acc:.2%}  "
            f"{seconds:.1f}s",
            flush=True,
        )
    return {"seed": seed, "data": splits.describe(), "history": history}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(MODELS), default="cnn")
    for flag in ("--optimizer", "--scheduler"):
        parser.add_argument(flag)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--data-dir", default=None, help="as the refnet CLI (REFNET_DATA_DIR)")
    parser.add_argument("--val-size", type=int, default=None)
    parser.add_argument("--train-size", type=int, default=None, help="the first N images only")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--same-init",
        action="store_true",
        help="start from refnet's initial weights for the seed and use its shuffling order",
    )
    parser.add_argument("--json", help="write the histories to this file")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.model]
    for field in ("optimizer", "scheduler", "lr", "batch_size", "epochs", "momentum"):
        if getattr(args, field) is None:
            setattr(args, field, getattr(recipe, field))
    if args.weight_decay is None:
        args.weight_decay = recipe.weight_decay
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads: {args.model} with "
        f"{args.optimizer} lr={args.lr} batch={args.batch_size} epochs={args.epochs} "
        f"scheduler={args.scheduler} weight_decay={args.weight_decay}"
        + (" (refnet's initial weights and order)" if args.same_init else "")
    )
    runs = [run(args, seed) for seed in args.seeds]
    finals = [r["history"][-1]["val_acc"] for r in runs]
    bests = [max(h["val_acc"] for h in r["history"]) for r in runs]
    spread = f" ± {statistics.stdev(finals):.2%}" if len(finals) > 1 else ""
    print(
        f"final validation accuracy: mean {statistics.mean(finals):.2%}{spread} over seeds "
        f"{args.seeds}: {', '.join(f'{a:.2%}' for a in finals)} (best epoch: "
        f"{', '.join(f'{a:.2%}' for a in bests)})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
