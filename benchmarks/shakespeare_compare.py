"""refnet's Shakespeare recipes against the torch replica: final loss and time per iteration.

    python -m benchmarks.shakespeare_compare --data TEXT --model gpt --seeds 0 1 2 --out DIR

For each seed, one refnet run (``python -m refnet.examples.shakespeare``) and one torch
run (``python -m benchmarks.shakespeare_torch_replica``), each in its own process and
alternating (refnet, torch, refnet, torch, ...), so a drift of the shared machine affects
both sides, with the same number of threads (``--threads``). Each side's time per
iteration counts its training iterations only. Writes
``DIR/compare-MODEL.json`` and prints a table: the final validation loss of every run,
the means, their difference, and the ratio of the mean times per iteration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def threads_env(threads: int) -> dict[str, str]:
    """The environment of a run: BLAS (and torch's OpenMP) limited to ``threads``."""
    count = str(threads)
    return {**os.environ, "OPENBLAS_NUM_THREADS": count, "OMP_NUM_THREADS": count}


def refnet_run(args: argparse.Namespace, seed: int, extra: list[str]) -> dict[str, Any]:
    out = args.out / f"refnet-{args.model}-{seed}"
    command = [
        sys.executable, "-m", "refnet.examples.shakespeare", "--data", args.data,
        "--model", args.model, "--seed", str(seed), "--out-dir", str(out), "--overwrite",
        "--no-plots", "--no-progress", *extra,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=threads_env(args.threads))
    history = json.loads((out / "metrics.json").read_text())["history"]
    last = history[-1]
    return {"val_loss": last["val_loss"], "ms_per_iter": 1e3 * last["seconds"] / last["iter"]}


def torch_run(args: argparse.Namespace, seed: int, extra: list[str]) -> dict[str, Any]:
    out = args.out / f"torch-{args.model}-{seed}.json"
    command = [
        sys.executable, "-m", "benchmarks.shakespeare_torch_replica", "--data", args.data,
        "--model", args.model, "--seeds", str(seed), "--json", str(out),
        "--threads", str(args.threads), *extra,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=threads_env(args.threads))
    run = json.loads(out.read_text())[0]
    return {"val_loss": run["history"][-1]["val_loss"], "ms_per_iter": run["ms_per_iter"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", choices=("gpt", "lstm"), default="gpt")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iters", type=int, help="override the recipe's iterations")
    parser.add_argument("--out", type=Path, default=Path("runs/shakespeare-compare"))
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads per run")
    parser.add_argument("--markdown", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    extra = [] if args.iters is None else ["--iters", str(args.iters)]
    runs: dict[str, list[dict[str, Any]]] = {"refnet": [], "torch": []}
    for seed in args.seeds:
        runs["refnet"].append({"seed": seed, **refnet_run(args, seed, extra)})
        runs["torch"].append({"seed": seed, **torch_run(args, seed, extra)})
        for side in runs:
            r = runs[side][-1]
            print(f"seed {seed} {side:<6} val {r['val_loss']:.4f}  {r['ms_per_iter']:.1f} ms/iter")
    summary = {
        side: {
            "val_loss_mean": statistics.mean(r["val_loss"] for r in rs),
            "ms_per_iter_mean": statistics.mean(r["ms_per_iter"] for r in rs),
        }
        for side, rs in runs.items()
    }
    ours, theirs = summary["refnet"], summary["torch"]
    summary["difference"] = {"val_loss": ours["val_loss_mean"] - theirs["val_loss_mean"]}
    summary["time_ratio"] = {"refnet/torch": ours["ms_per_iter_mean"] / theirs["ms_per_iter_mean"]}
    print(
        f"{args.model}: mean val loss refnet {ours['val_loss_mean']:.4f}, torch "
        f"{theirs['val_loss_mean']:.4f} (difference {summary['difference']['val_loss']:+.4f}); "
        f"time per iteration refnet/torch {summary['time_ratio']['refnet/torch']:.2f}"
    )
    document = {"model": args.model, "seeds": args.seeds, "runs": runs, "summary": summary}
    (args.out / f"compare-{args.model}.json").write_text(json.dumps(document, indent=1))
    if args.markdown is not None:
        args.markdown.write_text(markdown_table(args.model, runs, summary))


def markdown_table(
    model: str, runs: dict[str, list[dict[str, Any]]], summary: dict[str, Any]
) -> str:
    """One row per library: every seed's final validation loss, the mean, ms per iteration."""
    seeds = ", ".join(str(r["seed"]) for r in runs["refnet"])
    lines = [
        f"| {model} (seeds {seeds}) | final validation loss | mean | ms per iteration |",
        "|---|---|---|---|",
    ]
    for side, rs in runs.items():
        losses = ", ".join(f"{r['val_loss']:.3f}" for r in rs)
        s = summary[side]
        lines.append(
            f"| {side} | {losses} | {s['val_loss_mean']:.3f} | {s['ms_per_iter_mean']:.1f} |"
        )
    difference = summary["difference"]["val_loss"]
    ratio = summary["time_ratio"]["refnet/torch"]
    lines += [
        "",
        f"Difference of the means {difference:+.3f} nats; time ratio refnet/torch {ratio:.2f}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
