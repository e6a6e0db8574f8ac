"""PyTorch's Quickstart tutorial, ported (refnet/examples/quickstart.py), against torch.

The ported ``train`` runs one epoch on the FashionMNIST subset (or, on a machine without
it, a generated training split of the same shape); the tutorial's own torch loop runs
from the same weights on the same batches. Their test losses and accuracies must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refnet import nn
from refnet.data import DataLoader, write_idx
from refnet.examples import quickstart
from refnet.optim import SGD
from tests.real_data import REAL


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if REAL is not None:
        return REAL
    directory = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1200).astype(np.uint8)
    images = rng.integers(0, 64, (1200, 28, 28)).astype(np.uint8)
    images[np.arange(1200), labels, :] = 255  # a learnable class signal: a bright row
    write_idx(directory / "train-images-idx3-ubyte.gz", images)
    write_idx(directory / "train-labels-idx1-ubyte.gz", labels)
    return directory


def torch_twin(model: quickstart.NeuralNetwork) -> Any:
    """The tutorial's own NeuralNetwork in torch, holding the refnet model's weights."""
    torch = pytest.importorskip("torch")

    class NeuralNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.flatten = torch.nn.Flatten()
            self.linear_relu_stack = torch.nn.Sequential(
                torch.nn.Linear(28 * 28, 512),
                torch.nn.ReLU(),
                torch.nn.Linear(512, 512),
                torch.nn.ReLU(),
                torch.nn.Linear(512, 10),
            )

        def forward(self, x: Any) -> Any:
            return self.linear_relu_stack(self.flatten(x))

    twin = NeuralNetwork()
    state = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    twin.load_state_dict(state)
    return twin


def torch_epoch(twin: Any, loader: DataLoader) -> None:
    """The tutorial's train loop, as written for torch."""
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(twin.parameters(), lr=1e-3)
    twin.train()
    for X, y in loader:
        pred = twin(torch.from_numpy(X))
        loss = loss_fn(pred, torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def torch_test(twin: Any, loader: DataLoader) -> tuple[float, float]:
    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    twin.eval()
    test_loss, correct = 0.0, 0.0
    with torch.no_grad():
        for X, y in loader:
            pred = twin(torch.from_numpy(X))
            test_loss += loss_fn(pred, torch.from_numpy(y)).item()
            correct += (pred.argmax(1) == torch.from_numpy(y)).type(torch.float).sum().item()
    return test_loss / len(loader), correct / len(loader.dataset)


def test_one_epoch_of_the_ported_tutorial_equals_torchs(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training_data, test_data = quickstart.datasets(data_dir, download=False)
    train_loader = DataLoader(training_data, batch_size=64)
    test_loader = DataLoader(test_data, batch_size=64)
    model = quickstart.NeuralNetwork(generator=0)
    twin = torch_twin(model)
    loss_fn = nn.CrossEntropyLoss()
    before, _ = quickstart.test(test_loader, model, loss_fn)

    quickstart.train(train_loader, model, loss_fn, SGD(model.parameters(), lr=1e-3))
    torch_epoch(twin, train_loader)

    ours = quickstart.test(test_loader, model, loss_fn)
    theirs = torch_test(twin, test_loader)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert ours[0] < before  # it learned something in one epoch
    assert "loss:" in capsys.readouterr().out  # the tutorial's progress lines


def test_the_script_trains_saves_and_predicts(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "model.npz"
    quickstart.main(["--data-dir", str(data_dir), "--epochs", "1", "--save", str(saved)])
    out = capsys.readouterr().out
    assert "Shape of X [N, C, H, W]: (64, 1, 28, 28)" in out and "Accuracy:" in out
    assert saved.is_file() and 'Predicted: "' in out and '", Actual: "' in out
