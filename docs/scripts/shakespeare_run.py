"""The Shakespeare chapter's run: train the GPT recipe, keep its figures, samples and losses.

Runs ``python -m refnet.examples.shakespeare`` with the default GPT recipe (seed 0,
evaluations every 100 iterations) on the shared corpus, then writes into ``--out-dir``
(default ``docs/figures``) the run's loss curves and attention maps as
``shakespeare_gpt_curves.png`` and ``shakespeare_gpt_attention.png``, and into
``docs/_generated/shakespeare_gpt_run.md`` (``--out-dir`` with ``--quick``) the table of
evaluations and the samples at 100, 500 and 2,000 iterations that the chapter includes.

It also runs the first ``SAME_INIT_ITERS`` iterations of both recipes (GPT and LSTM, seed
0) in refnet and in the torch replica started from refnet's weights
(``benchmarks/shakespeare_torch_replica.py``), and draws both loss curves on one plot,
``shakespeare_same_init.png``, with their relative difference below; the largest
differences go into ``shakespeare_same_init.md`` beside the run's fragment.

Run: ``python docs/scripts/shakespeare_run.py`` (about six minutes on 2 cores),
``--from-run DIR`` to take an existing run directory of that command, or
``--same-init-only`` for the comparison alone (about two minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from refnet.examples.shakespeare.data import Vocabulary, read_text, split
from refnet.examples.shakespeare.training import RECIPES, Config, Trainer

DOCS = Path(__file__).resolve().parents[1]
CORPUS = DOCS.parents[1] / "shared" / "data" / "shakespeare" / "shakespeare.txt"
SHOWN = (100, 500, 2000)
SAME_INIT_ITERS = 300
QUICK_MODEL = {"n_layer": 1, "n_embd": 16, "n_head": 2, "block_size": 16, "batch_size": 4}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DOCS / "figures")
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few iterations")
    parser.add_argument("--data", type=Path, default=CORPUS)
    parser.add_argument("--from-run", type=Path, help="a finished run directory to use")
    parser.add_argument(
        "--same-init-only", action="store_true", help="only the same-initialisation comparison"
    )
    return parser.parse_args()


def train(data: Path, run: Path, quick: bool) -> None:
    tiny = ["--iters", "20", "--eval-interval", "10", "--eval-iters", "1", "--n-layer", "1",
            "--n-embd", "16", "--n-head", "2", "--block-size", "16"] if quick else []  # fmt: skip
    command = [
        sys.executable, "-m", "refnet.examples.shakespeare", "--data", str(data),
        "--eval-interval", "100", "--out-dir", str(run), "--overwrite", "--no-progress", *tiny,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def fragment(run: Path, quick: bool) -> str:
    history = json.loads((run / "metrics.json").read_text())["history"]
    rows = ["| iteration | train loss | validation loss | bits/char (val) |", "|---|---|---|---|"]
    shown = set(SHOWN) | {h["iter"] for h in history if h["iter"] % 500 == 0}
    for h in history:
        if h["iter"] in shown or quick:
            losses = f"{h['train_loss']:.3f} | {h['val_loss']:.3f} | {h['val_bits']:.3f}"
            rows.append(f"| {h['iter']} | {losses} |")
    last = history[-1]
    per_iter = 1e3 * last["seconds"] / last["iter"]
    parts = [
        "\n".join(rows),
        "",
        f"Training time {last['seconds']:.0f} s ({per_iter:.1f} ms per iteration).",
        "",
    ]
    for h in history:
        if h["iter"] in SHOWN or (quick and h is last):
            title = f"After {h['iter']} iterations (validation loss {h['val_loss']:.2f}):"
            parts += [title, "", "```text", h["sample"].strip("\n"), "```", ""]
    return "\n".join(parts)


def replica_module() -> Any:
    """``benchmarks/shakespeare_torch_replica.py`` (it needs torch)."""
    sys.path.insert(0, str(DOCS.parent / "benchmarks"))
    try:
        import shakespeare_torch_replica
    finally:
        sys.path.pop(0)
    return shakespeare_torch_replica


def same_init_losses(
    text: str, model: str, iters: int, quick: bool
) -> tuple[list[float], list[float], list[float]]:
    """The training losses of the recipe's first ``iters`` iterations (seed 0): refnet's,
    the torch replica's from the same initial weights and batches, and refnet's again with
    every initial weight moved up by one float32 ulp (how far round-off alone carries a run)."""
    replica = replica_module()
    values = {**dataclasses.asdict(Config()), **RECIPES[model], "model": model}
    config = Config(**{**values, **(QUICK_MODEL if quick else {})})
    vocab = Vocabulary.from_text(text)
    train, val = split(vocab.encode(text))
    ours = Trainer(config, vocab, train, val)
    theirs = replica.Replica(config, vocab, train, val, same_init=True)
    nudged = Trainer(config, vocab, train, val)
    for parameter in nudged.model.parameters():
        np.nextafter(parameter.data, np.float32(np.inf), out=parameter.data)
    runs = (ours, theirs, nudged)
    return tuple([run.step() for _ in range(iters)] for run in runs)  # type: ignore[return-value]


def relative(ours: list[float], theirs: list[float]) -> list[float]:
    return [abs(a - b) / abs(b) for a, b in zip(ours, theirs, strict=True)]


Runs = dict[str, tuple[list[float], list[float], list[float]]]


def same_init_figure(runs: Runs) -> Any:
    """Both loss curves per recipe, and below them the relative differences."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.subplots(2, len(runs), sharex=True, squeeze=False, height_ratios=(2, 1))
    for column, (model, (ours, theirs, nudged)) in enumerate(runs.items()):
        steps = range(1, len(ours) + 1)
        top, bottom = axes[0][column], axes[1][column]
        top.plot(steps, ours, label="refnet", linewidth=2.5, alpha=0.6)
        top.plot(steps, theirs, label="torch replica", linestyle="--", color="black", linewidth=1)
        top.set_title(f"{model.upper()} recipe, same initial weights and batches")
        top.set_ylabel("training loss (nats/char)")
        top.legend()
        bottom.semilogy(
            steps,
            relative(ours, theirs),
            color="tab:red",
            linewidth=1,
            label="refnet vs the torch replica",
        )
        nudge = relative(ours, nudged)
        bottom.semilogy(
            steps,
            nudge,
            color="gray",
            linewidth=1,
            label="refnet vs refnet with every weight +1 ulp",
        )
        bottom.set_ylabel("relative difference")
        bottom.legend(fontsize=7)
        bottom.set_xlabel("iteration")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    return figure


def same_init_fragment(runs: Runs) -> str:
    iters = len(next(iter(runs.values()))[0])
    spans = sorted({n for n in (10, 100, 150) if n < iters} | {iters})
    rows = [
        "| recipe, against | " + " | ".join(f"iterations 1-{n}" for n in spans) + " |",
        "|---|" + "---|" * len(spans),
    ]
    for model, (ours, theirs, nudged) in runs.items():
        for against, other in (
            ("the torch replica", theirs),
            ("refnet, every weight +1 ulp", nudged),
        ):
            gaps = relative(ours, other)
            largest = " | ".join(f"{max(gaps[:n]):.1e}" for n in spans)
            rows.append(f"| {model}, {against} | {largest} |")
    return "\n".join(rows) + "\n"


def write_same_init(text: str, out_dir: Path, fragments: Path, quick: bool) -> None:
    iters = 12 if quick else SAME_INIT_ITERS
    runs = {model: same_init_losses(text, model, iters, quick) for model in ("gpt", "lstm")}
    figure = same_init_figure(runs)
    figure.savefig(out_dir / "shakespeare_same_init.png", dpi=60 if quick else 110)
    (fragments / "shakespeare_same_init.md").write_text(same_init_fragment(runs))


def main() -> None:
    args = parse()
    data = args.data
    fragments = args.out_dir if args.quick else DOCS / "_generated"
    with tempfile.TemporaryDirectory() as scratch:
        if not data.is_file():  # the quick smoke run elsewhere: any play-like text will do
            data = Path(scratch) / "text.txt"
            data.write_text("ROMEO.\nBut soft, what light through yonder window breaks?\n" * 400)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        fragments.mkdir(parents=True, exist_ok=True)
        if not args.same_init_only:
            chapter_run(args, data, fragments, Path(scratch) / "run")
        write_same_init(read_text(data), args.out_dir, fragments, args.quick)
    print(f"wrote the figures into {args.out_dir} and the fragments into {fragments}")


def chapter_run(args: argparse.Namespace, data: Path, fragments: Path, scratch_run: Path) -> None:
    run = args.from_run or scratch_run
    if args.from_run is None:
        train(data, run, args.quick)
    for name in ("curves", "attention"):
        shutil.copyfile(run / f"{name}.png", args.out_dir / f"shakespeare_gpt_{name}.png")
    (fragments / "shakespeare_gpt_run.md").write_text(fragment(run, args.quick))


if __name__ == "__main__":
    main()
