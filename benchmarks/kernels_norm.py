"""Normalisation, dropout and embedding kernels vs PyTorch on CPU, and the scatter choice.

    python -m benchmarks.kernels_norm [--reps 21] [--threads 2] [--only norm,dropout,...]

(``--only`` takes a comma-separated subset of norm, dropout, embedding, scatter.)

Each case runs refnet and torch alternately (:func:`benchmarks.timing.race`), ``reps``
times after a warm-up, with the same parameters and inputs (float32, NumPy's BLAS and
torch at ``--threads`` threads), and prints the median times and their ratio. The
machine is shared and noisy: only ratios measured in one run mean much. ``fwd+bwd`` is
a training step's use: forward, then backward with a fixed upstream gradient (torch's
input requires a gradient, as refnet computes it too).

``scatter`` times the candidate implementations of Embedding's weight gradient (a
scatter-add with repeated rows) against each other, interleaved, at several vocabulary
sizes: the measurement behind :func:`refnet.nn.functional.embedding_backward`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch

import refnet.nn as nn
from benchmarks import threads
from benchmarks.timing import race as timed_race
from refnet.interop.torch import to_torch
from refnet.nn import functional as F

Fn = Callable[[], object]


def race(fns: dict[str, Fn], reps: int) -> dict[str, float]:
    """Median milliseconds of each function, run in turn (order rotated every round)."""
    stats = timed_race(fns, rounds=reps, warmup=2, min_time=0.0)
    return {name: s.median for name, s in stats.items()}


def layer_pair(module: nn.Module, x: np.ndarray, backward: bool, seed: int = 0) -> tuple[Fn, Fn]:
    """Forward (and backward) of one layer on a fixed input, in refnet and in torch."""
    theirs = to_torch(module)
    differentiable = backward and np.issubdtype(x.dtype, np.floating)
    tx = torch.from_numpy(x.copy()).requires_grad_(differentiable)
    y = module(x)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    tg = torch.from_numpy(g.copy())

    def ours() -> None:
        module(x)
        if backward:
            module.backward(g)

    def torchs() -> None:
        if backward:
            tx.grad = None
            theirs.zero_grad()
            theirs(tx).backward(tg)
        else:
            with torch.no_grad():
                theirs(tx)

    return ours, torchs


def report(name: str, module: nn.Module, x: np.ndarray, backward: bool, reps: int) -> None:
    ours, theirs = layer_pair(module, x, backward)
    t = race({"refnet": ours, "torch": theirs}, reps)
    step = "fwd+bwd" if backward else "fwd"
    print(
        f"{name:44s} {step:8s} refnet {t['refnet']:8.3f} ms   torch {t['torch']:8.3f} ms"
        f"   ratio {t['refnet'] / t['torch']:5.2f}"
    )


def images(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 2 + 0.5).astype(np.float32)


def norm_cases(reps: int) -> None:
    x = images((128, 32, 28, 28))
    report("BatchNorm2d(32) train 128x32x28x28", nn.BatchNorm2d(32), x, True, reps)
    report("BatchNorm2d(32) train 128x32x28x28", nn.BatchNorm2d(32), x, False, reps)
    report("BatchNorm2d(32) eval 128x32x28x28", nn.BatchNorm2d(32).eval(), x, False, reps)
    report(
        "BatchNorm2d(64) train 128x64x14x14",
        nn.BatchNorm2d(64),
        images((128, 64, 14, 14)),
        True,
        reps,
    )
    report("BatchNorm1d(256) train 128x256", nn.BatchNorm1d(256), images((128, 256)), True, reps)
    report("LayerNorm(256) 64x128x256", nn.LayerNorm(256), images((64, 128, 256)), True, reps)
    report(
        "GroupNorm(8, 32) 32x32x28x28", nn.GroupNorm(8, 32), images((32, 32, 28, 28)), True, reps
    )


def dropout_cases(reps: int) -> None:
    report(
        "Dropout(0.5) train 128x256", nn.Dropout(0.5, generator=0), images((128, 256)), True, reps
    )
    x = images((128, 32, 28, 28))
    report("Dropout(0.5) train 128x32x28x28", nn.Dropout(0.5, generator=0), x, True, reps)
    report("Dropout(0.5) train 128x32x28x28", nn.Dropout(0.5, generator=0), x, False, reps)
    report("Dropout2d(0.5) train 128x32x28x28", nn.Dropout2d(0.5, generator=0), x, True, reps)


def embedding_cases(reps: int) -> None:
    rng = np.random.default_rng(0)
    for vocab, dim, shape in [
        (1000, 64, (128, 32)),
        (10000, 128, (64, 64)),
        (50000, 300, (32, 200)),
    ]:
        indices = rng.integers(0, vocab, shape)
        name = f"Embedding({vocab}, {dim}) on {shape[0]}x{shape[1]}"
        report(name, nn.Embedding(vocab, dim, generator=0), indices, True, reps)


# ----------------------------------------------------------------------------- scatter


def scatter_unique_bincount(indices: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    rows, sums = F.embedding_backward(indices, g)
    out[rows] += sums


def scatter_sort_reduceat(indices: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    order = np.argsort(indices, kind="stable")
    ordered = indices[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    out[ordered[starts]] += np.add.reduceat(np.take(g, order, axis=0), starts, axis=0)


def scatter_one_hot_gemm(indices: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    one_hot = np.zeros((out.shape[0], indices.size), dtype=g.dtype)
    one_hot[indices, np.arange(indices.size)] = 1
    out += one_hot @ g


def scatter_add_at(indices: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    np.add.at(out, indices, g)


def scatter_cases(reps: int) -> None:
    rng = np.random.default_rng(0)
    sizes = [
        (100, 16, 4096),
        (1000, 64, 4096),
        (10000, 64, 4096),
        (50000, 300, 6400),
        (10000, 128, 65536),
    ]
    for vocab, dim, m in sizes:
        indices = rng.integers(0, vocab, m)
        g = rng.standard_normal((m, dim)).astype(np.float32)
        out = np.zeros((vocab, dim), dtype=np.float32)
        candidates = {
            "unique+bincount": scatter_unique_bincount,
            "sort+reduceat": scatter_sort_reduceat,
            "np.add.at": scatter_add_at,
        }
        if vocab * m <= 5e7:
            candidates["one-hot GEMM"] = scatter_one_hot_gemm
        fns: dict[str, Fn] = {
            name: (lambda fn=fn, i=indices, g=g, out=out: fn(i, g, out))
            for name, fn in candidates.items()
        }
        t = race(fns, reps)
        times = "   ".join(f"{name} {ms:8.3f}" for name, ms in t.items())
        print(f"scatter V={vocab:<6d} D={dim:<4d} M={m:<6d} ms: {times}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=21)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="norm,dropout,embedding,scatter")
    args = parser.parse_args()
    threads.limit_blas(args.threads)
    torch.set_num_threads(args.threads)
    groups = {
        "norm": norm_cases,
        "dropout": dropout_cases,
        "embedding": embedding_cases,
        "scatter": scatter_cases,
    }
    for name in args.only.split(","):
        groups[name](args.reps)


if __name__ == "__main__":
    main()
