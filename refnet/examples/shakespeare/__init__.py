"""Shakespeare from scratch: a character-level GPT and LSTM trained with refnet.

::

    python -m refnet.examples.shakespeare --data shakespeare.txt          # the GPT recipe
    python -m refnet.examples.shakespeare --data shakespeare.txt --model lstm
    python -m refnet.examples.shakespeare --download                      # tiny shakespeare
    python -m refnet.examples.shakespeare sample --checkpoint runs/shakespeare-gpt/best.npz \\
        --prompt "ROMEO:" --temperature 0.8 --top-k 40 --length 500
    python -m refnet.examples.shakespeare evaluate --checkpoint CK --data other.txt

The GPT recipe is nanoGPT's CPU recipe for tiny shakespeare (4 layers, 4 heads, 128-wide
embeddings, context 64, batch 12, 2,000 iterations, AdamW lr 1e-3 with betas (0.9, 0.99),
weight decay 0.1 on matrices only, 100 warm-up iterations then a cosine to 1e-4, gradient
clipping at 1.0, no dropout, tied embeddings). The LSTM recipe is char-rnn's kind of model,
2 layers of 256 units, batch 32, lr 2e-3, the same schedule.

The run directory (``--out-dir``, default ``runs/shakespeare-MODEL``) receives
``latest.npz`` and ``best.npz`` (``--resume`` continues bit-identically),
``metrics.json`` / ``metrics.csv`` (one record per evaluation), ``samples.txt``, and the
figures ``curves.png`` and, for the GPT, ``attention.png``.

* :mod:`~refnet.examples.shakespeare.data`: reading, checking, encoding, batching text;
* :mod:`~refnet.examples.shakespeare.models`: the GPT and the LSTM, with their backward;
* :mod:`~refnet.examples.shakespeare.training`: recipes, AdamW groups, schedule, loop;
* :mod:`~refnet.examples.shakespeare.sampling`: temperature and top-k sampling;
* :mod:`~refnet.examples.shakespeare.checkpoints`: checkpoint files and resume rules;
* :mod:`~refnet.examples.shakespeare.plots`: loss curves and attention maps;
* :mod:`~refnet.examples.shakespeare.cli`: the command line.
"""

from refnet.examples.shakespeare.cli import main

__all__ = ["main"]
