"""Figure and numbers for chapter 7a: weight decay, dropout and early stopping on FashionMNIST.

An MLP 784-256-256-10 (ReLU) trained with AdamW (lr 1e-3, batch 64) on the first 1,000
images of the FashionMNIST training split, validated on the last 1,226 images of the
first 8,226 (the subset of chapter 10: train on few images so that the network
overfits), four ways from the same initial weights and batches: plain, weight decay
0.1, dropout 0.5 after each hidden layer, both. Writes ``regularisation.png`` into
``--out-dir`` (default ``docs/figures``) and the table the chapter includes into
``docs/_generated/regularisation_run.md`` (into ``--out-dir`` with ``--quick``).

Run: ``python docs/scripts/regularisation.py --data-dir DIR`` (DIR holding at least the
first 8,226 training images; under a minute).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import add_data_dir, make_parser, save

import refnet
import refnet.nn as nn
import refnet.optim as optim
from refnet.data import DataLoader, Dataset, FashionMNIST, Subset

MEAN, STD = 0.2860, 0.3530  # FashionMNIST's pixel statistics
TRAIN, VAL_START, VAL_END = 1000, 7000, 8226
EPOCHS, BATCH, LR = 40, 64, 1e-3
# label -> (weight decay, dropout probability)
CONFIGS = {
    "plain": (0.0, 0.0),
    "weight decay 0.1": (0.1, 0.0),
    "dropout 0.5": (0.0, 0.5),
    "both": (0.1, 0.5),
}
GENERATED = Path(__file__).resolve().parents[1] / "_generated"


def mlp(dropout: float, seed: int = 0) -> nn.Sequential:
    refnet.manual_seed(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in in (784, 256):
        layers += [nn.Linear(n_in, 256), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout, generator=seed))
    layers.append(nn.Linear(256, 10))
    return nn.Sequential(*layers)


def evaluate(model: nn.Sequential, data: Dataset) -> tuple[float, float]:
    """Mean loss and accuracy, in evaluation mode (dropout off)."""
    model.eval()
    criterion = nn.CrossEntropyLoss(reduction="sum")
    loss, correct = 0.0, 0
    with refnet.no_grad():
        for images, labels in DataLoader(data, batch_size=512):
            logits = model(images)
            loss += criterion(logits, labels)
            correct += int((logits.argmax(axis=1) == labels).sum())
    model.train()
    return loss / len(data), correct / len(data)


def train(
    train_data: Dataset, val_data: Dataset, weight_decay: float, dropout: float, epochs: int
) -> dict[str, list[float]]:
    model = mlp(dropout)
    optimizer = optim.AdamW(model.parameters(), lr=LR, weight_decay=weight_decay)
    criterion = nn.CrossEntropyLoss()
    loader = DataLoader(train_data, batch_size=BATCH, shuffle=True, generator=0)
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_acc": []}
    for _ in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            criterion(model(images), labels)
            model.backward(criterion.backward())
            optimizer.step()
        train_loss, _ = evaluate(model, train_data)
        val_loss, val_acc = evaluate(model, val_data)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
    return history


def table(results: dict[str, dict[str, list[float]]]) -> str:
    rows = [
        "| training | final train loss | final val loss | final val accuracy "
        "| lowest val loss (epoch) | val accuracy there |",
        "|---|---|---|---|---|---|",
    ]
    for label, h in results.items():
        best = int(np.argmin(h["val_loss"]))
        rows.append(
            f"| {label} | {h['train_loss'][-1]:.3f} | {h['val_loss'][-1]:.3f} "
            f"| {h['val_acc'][-1]:.2%} | {h['val_loss'][best]:.3f} ({best + 1}) "
            f"| {h['val_acc'][best]:.2%} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = add_data_dir(make_parser(__doc__.splitlines()[0])).parse_args(argv)
    import matplotlib.pyplot as plt

    full = FashionMNIST(args.data_dir, train=True, transform=lambda x: (x - MEAN) / STD)
    n = len(full)
    train_end, val = (TRAIN, np.arange(VAL_START, VAL_END)) if n >= VAL_END else (n // 2, None)
    val_indices = val if val is not None else np.arange(n // 2, n)
    train_data, val_data = Subset(full, np.arange(train_end)), Subset(full, val_indices)
    epochs = 2 if args.quick else EPOCHS
    results = {
        label: train(train_data, val_data, decay, p, epochs)
        for label, (decay, p) in CONFIGS.items()
    }

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    epoch_axis = np.arange(1, epochs + 1)
    for k, (label, h) in enumerate(results.items()):
        colour = f"C{k}"
        left.plot(epoch_axis, h["train_loss"], "--", color=colour)
        left.plot(epoch_axis, h["val_loss"], "-", color=colour, label=label)
        right.plot(epoch_axis, h["val_acc"], "-", color=colour, label=label)
    plain = results["plain"]["val_loss"]
    best = int(np.argmin(plain))
    left.axvline(best + 1, color="0.6", lw=0.8)
    left.annotate("early stopping\n(plain: lowest val loss)", (best + 1, plain[best]),
                  xytext=(best + 3, max(plain) * 0.8), fontsize=8,
                  arrowprops={"arrowstyle": "->", "color": "0.4"})  # fmt: skip
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("loss (dashed: training, solid: validation)")
    left.set_title(f"MLP on {train_end:,} FashionMNIST images, AdamW lr {LR:g}")
    left.legend(fontsize=8)
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy")
    right.set_title(f"on {len(val_data):,} held-out images")
    right.legend(fontsize=8)
    save(fig, args.out_dir, "regularisation.png", args.quick)
    target = (args.out_dir if args.quick else GENERATED) / "regularisation_run.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(table(results))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
