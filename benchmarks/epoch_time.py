"""The FashionMNIST example's epoch against the torch replica's, in separate processes.

    python -m benchmarks.epoch_time [--model cnn] [--rounds 5] [--data-dir DIR]

Each round runs one epoch of the example (``python -m refnet.examples.fashion_mnist``,
the model's recipe, as a user runs it: progress bar off, plots off) and one epoch of
:mod:`benchmarks.fashion_mnist_torch_replica` (the same recipe in plain torch, at 2
threads), each in a fresh process, the order alternating from round to round so neither
side always runs on a machine the other just warmed or left busy. The figure compared is
the epoch's own wall time as each script records it (training and validation, not the
interpreter's start-up or the data loading): ``seconds`` in the example's
``metrics.json``, ``time_s`` in the replica's ``--json``. The ratio is refnet's median
over torch's; the by-round ratios show the spread. The results go to
``benchmarks/results/epoch.md`` and ``epoch.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import describe, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist-head8k"
TARGET = 1.0


def refnet_epoch(model: str, data_dir: Path, seed: int, work: Path) -> float:
    """One epoch of the refnet example in a fresh process; its recorded seconds."""
    out = work / f"refnet-{seed}"
    command = [
        *(sys.executable, "-m", "refnet.examples.fashion_mnist"),
        *("--model", model, "--epochs", "1", "--seed", str(seed)),
        *("--data-dir", str(data_dir), "--out-dir", str(out)),
        *("--no-plots", "--no-progress", "--overwrite"),
    ]
    subprocess.run(command, check=True, capture_output=True)
    history = json.loads((out / "metrics.json").read_text())["history"]
    return float(history[0]["seconds"])


def torch_epoch(model: str, data_dir: Path, seed: int, work: Path) -> float:
    """One epoch of the torch replica in a fresh process; its recorded seconds."""
    out = work / f"torch-{seed}.json"
    command = [
        *(sys.executable, "-m", "benchmarks.fashion_mnist_torch_replica"),
        *("--model", model, "--epochs", "1", "--seeds", str(seed)),
        *("--data-dir", str(data_dir), "--threads", "2", "--json", str(out)),
    ]
    subprocess.run(command, check=True, capture_output=True)
    history = json.loads(out.read_text())["runs"][0]["history"]
    return float(history[0]["time_s"])


def measure(model: str, data_dir: Path, rounds: int) -> dict[str, object]:
    """``rounds`` alternating pairs of epochs; the times and the ratio of the medians."""
    sides: dict[str, Callable[[str, Path, int, Path], float]] = {
        "refnet": refnet_epoch,
        "torch": torch_epoch,
    }
    times: dict[str, list[float]] = {"refnet": [], "torch": []}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(rounds):
            order = ["refnet", "torch"] if r % 2 == 0 else ["torch", "refnet"]
            for side in order:
                times[side].append(sides[side](model, data_dir, r, Path(scratch)))
            print(f"round {r + 1}/{rounds}: refnet {times['refnet'][-1]:.2f} s, "
                  f"torch {times['torch'][-1]:.2f} s", flush=True)  # fmt: skip
    medians = {side: statistics.median(t) for side, t in times.items()}
    return {
        "model": model,
        "data": str(data_dir),
        "rounds": rounds,
        "seconds": times,
        "median_seconds": medians,
        "ratio": medians["refnet"] / medians["torch"],
        "by_round": [a / b for a, b in zip(times["refnet"], times["torch"], strict=True)],
        "target": TARGET,
    }


def report(result: dict[str, object], machine: str) -> str:
    """The Markdown page: the machine, the command, the table row and the rounds."""
    medians = result["median_seconds"]
    assert isinstance(medians, dict)
    ratio = float(result["ratio"])  # type: ignore[arg-type]
    by_round = " ".join(f"{r:.2f}" for r in result["by_round"])  # type: ignore[attr-defined]
    holds = "yes" if ratio <= TARGET else "no"
    return "\n".join(
        [
            "# One training epoch, refnet's example against the torch replica",
            "",
            "<!-- --8<-- [start:run] -->",
            machine,
            "",
            f"`python -m benchmarks.epoch_time --model {result['model']} "
            f"--rounds {result['rounds']}`, on {result['data']}.",
            "",
            "| case | refnet | torch | ratio | by round | target | holds |",
            "|---|---|---|---|---|---|---|",
            f"| {result['model']} epoch | {medians['refnet']:.2f} s | {medians['torch']:.2f} s "
            f"| {ratio:.2f} | {by_round} | <= {TARGET} | {holds} |",
            "<!-- --8<-- [end:run] -->",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "lenet", "cnn"], default="cnn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    result = measure(args.model, args.data_dir, args.rounds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "epoch.json").write_text(json.dumps(result, indent=1) + "\n")
    import torch

    page = report(result, describe(machine_info(torch)))
    (args.out / "epoch.md").write_text(page)
    print(page)


if __name__ == "__main__":
    main()
