"""PyTorch's "Quickstart" tutorial, ported to refnet line by line.

The tutorial (pytorch.org/tutorials/beginner/basics/quickstart_tutorial.html) trains a
784-512-512-10 network on FashionMNIST with SGD for five epochs. This is the same program
with ``torch`` renamed to ``refnet``, and three kinds of change, each marked ``# port:``:

* the model has a ``backward``, the chain rule written out (``forward`` in reverse);
* ``loss.backward()`` becomes ``model.backward(loss_fn.backward())``;
* tensors are NumPy arrays: no ``.to(device)``, ``.type(torch.float)`` is ``.astype``.

Run it with ``python -m refnet.examples.quickstart --download`` (the data goes to
refnet's cache, ``~/.cache/refnet/fashion-mnist``, or ``--data-dir``). A directory with
only the training split (such as an 8,226-image subset) works too: the last sixth of the
training images is then held out as the test set.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import refnet
from refnet import nn
from refnet.data import DataLoader, FashionMNIST, Subset
from refnet.examples._cli import positive


# --8<-- [start:model]
class NeuralNetwork(nn.Module):
    def __init__(self, generator: int | None = None) -> None:
        super().__init__()
        rng = refnet.random.as_generator(generator)  # port: seeded, no global RNG
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 512, generator=rng),
            nn.ReLU(),
            nn.Linear(512, 512, generator=rng),
            nn.ReLU(),
            nn.Linear(512, 10, generator=rng),
        )

    def forward(self, x: Any) -> Any:
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits

    def backward(self, grad_logits: Any) -> Any:  # port: forward's steps, in reverse
        grad = self.linear_relu_stack.backward(grad_logits)
        return self.flatten.backward(grad)


# --8<-- [end:model]


# --8<-- [start:train]
def train(dataloader: DataLoader, model: nn.Module, loss_fn: Any, optimizer: Any) -> None:
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):  # port: no X.to(device)
        # Compute prediction error
        pred = model(X)
        loss = loss_fn(pred, y)

        # Backpropagation
        model.backward(loss_fn.backward())  # port: was loss.backward()
        optimizer.step()
        optimizer.zero_grad()

        if batch % 100 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


# --8<-- [end:train]


# --8<-- [start:test]
def test(dataloader: DataLoader, model: nn.Module, loss_fn: Any) -> tuple[float, float]:
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0.0, 0.0
    with refnet.no_grad():
        for X, y in dataloader:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).astype(np.float32).sum().item()  # port: astype
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return test_loss, correct  # port: returned, so a test can compare them


# --8<-- [end:test]


def datasets(root: Path | None, download: bool) -> tuple[Any, Any]:
    """The training and test splits, or the training split cut 5:1 when it is alone."""
    training_data = FashionMNIST(root=root, train=True, download=download)
    try:
        return training_data, FashionMNIST(root=root, train=False, download=download)
    except FileNotFoundError:
        n = len(training_data)
        held_out = n - n // 6
        print(f"no test split in {training_data.root}: holding out images {held_out}..{n - 1}")
        return Subset(training_data, range(held_out)), Subset(training_data, range(held_out, n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="FashionMNIST's directory")
    parser.add_argument("--download", action="store_true", help="fetch FashionMNIST first")
    parser.add_argument("--epochs", type=positive(int), default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, default=Path("model.npz"))
    args = parser.parse_args(argv)

    # --8<-- [start:script]
    training_data, test_data = datasets(args.data_dir, args.download)
    batch_size = 64
    train_dataloader = DataLoader(training_data, batch_size=batch_size)
    test_dataloader = DataLoader(test_data, batch_size=batch_size)
    for X, y in test_dataloader:
        print(f"Shape of X [N, C, H, W]: {X.shape}")
        print(f"Shape of y: {y.shape} {y.dtype}")
        break

    model = NeuralNetwork(generator=args.seed)
    print(model)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = refnet.optim.SGD(model.parameters(), lr=1e-3)

    for t in range(args.epochs):
        print(f"Epoch {t + 1}\n-------------------------------")
        train(train_dataloader, model, loss_fn, optimizer)
        test(test_dataloader, model, loss_fn)
    print("Done!")

    refnet.save(model.state_dict(), args.save)  # port: refnet.save, an .npz file
    print(f"Saved the model's state to {args.save}")

    model = NeuralNetwork()
    model.load_state_dict(refnet.load(args.save))
    classes = FashionMNIST.classes
    model.eval()
    x, y = test_data[0][0], test_data[0][1]
    with refnet.no_grad():
        pred = model(x)
        predicted, actual = classes[pred[0].argmax(0)], classes[y]
        print(f'Predicted: "{predicted}", Actual: "{actual}"')
    # --8<-- [end:script]


if __name__ == "__main__":
    main()
