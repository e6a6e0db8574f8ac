"""Data loading (PyTorch: ``torch.utils.data`` and ``torchvision.datasets``).

>>> import numpy as np
>>> from refnet.data import DataLoader, TensorDataset
>>> x, y = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32), np.arange(10)
>>> loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=0)
>>> [(inputs.shape, labels.dtype.name) for inputs, labels in loader]
[((4, 3), 'int64'), ((4, 3), 'int64'), ((2, 3), 'int64')]
"""

from refnet.data.dataloader import DataLoader
from refnet.data.dataset import (
    Dataset,
    MapDataset,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)
from refnet.data.fashion_mnist import DownloadError, FashionMNIST
from refnet.data.idx import read_idx, write_idx

__all__ = [
    "DataLoader",
    "Dataset",
    "DownloadError",
    "FashionMNIST",
    "MapDataset",
    "Subset",
    "TensorDataset",
    "default_collate",
    "random_split",
    "read_idx",
    "write_idx",
]
