"""Train a FashionMNIST classifier from scratch with refnet: the example people run first.

::

    python -m refnet.examples.fashion_mnist --download            # the default cnn
    python -m refnet.examples.fashion_mnist --model lenet --data-dir DIR --out-dir runs/lenet
    python -m refnet.examples.fashion_mnist --out-dir runs/lenet --resume
    refnet-fashion-mnist --help                                   # the same, installed

It prints a model summary, a progress bar per epoch (running loss, images/s) and one line
per epoch (training and validation loss and accuracy, time), and writes into
``--out-dir``: checkpoints ``latest.npz`` and ``best.npz`` (``--resume`` continues a run
exactly), ``metrics.json`` / ``metrics.csv``, and the figures ``curves.png``,
``confusion_matrix.png``, ``predictions.png`` and ``grad_norms.png``.

The package is split by concern, each module short enough to read in one sitting:

* :mod:`~refnet.examples.fashion_mnist.models`: the mlp, lenet and cnn, their recipes,
  the model summary;
* :mod:`~refnet.examples.fashion_mnist.data`: the training/validation split;
* :mod:`~refnet.examples.fashion_mnist.training`: the training loop, evaluation, and the
  ``Trainer`` that holds (and saves) a run's state;
* :mod:`~refnet.examples.fashion_mnist.checkpoints`: checkpoint files and resume rules;
* :mod:`~refnet.examples.fashion_mnist.metrics`: metrics files and the confusion matrix;
* :mod:`~refnet.examples.fashion_mnist.plots`: the matplotlib figures;
* :mod:`~refnet.examples.fashion_mnist.cli`: the command line.
"""

from refnet.examples.fashion_mnist.cli import main

__all__ = ["main"]
