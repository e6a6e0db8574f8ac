"""The Shakespeare chapter's run: train the GPT recipe, keep its figures, samples and losses.

Runs ``python -m refnet.examples.shakespeare`` with the default GPT recipe (seed 0,
evaluations every 100 iterations) on the shared corpus, then writes into ``--out-dir``
(default ``docs/figures``) the run's loss curves and attention maps as
``shakespeare_gpt_curves.png`` and ``shakespeare_gpt_attention.png``, and into
``docs/_generated/shakespeare_gpt_run.md`` (``--out-dir`` with ``--quick``) the table of
evaluations and the samples at 100, 500 and 2,000 iterations that the chapter includes.

Run: ``python docs/scripts/shakespeare_run.py`` (about four minutes on 2 cores), or
``--from-run DIR`` to take an existing run directory of that command.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
CORPUS = DOCS.parents[1] / "shared" / "data" / "shakespeare" / "shakespeare.txt"
SHOWN = (100, 500, 2000)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DOCS / "figures")
    parser.add_argument("--quick", action="store_true", help="a tiny model, a few iterations")
    parser.add_argument("--data", type=Path, default=CORPUS)
    parser.add_argument("--from-run", type=Path, help="a finished run directory to use")
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


def main() -> None:
    args = parse()
    data = args.data
    with tempfile.TemporaryDirectory() as scratch:
        if not data.is_file():  # the quick smoke run elsewhere: any play-like text will do
            data = Path(scratch) / "text.txt"
            data.write_text("ROMEO.\nBut soft, what light through yonder window breaks?\n" * 400)
        run = args.from_run or Path(scratch) / "run"
        if args.from_run is None:
            train(data, run, args.quick)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("curves", "attention"):
            shutil.copyfile(run / f"{name}.png", args.out_dir / f"shakespeare_gpt_{name}.png")
        target = (args.out_dir if args.quick else DOCS / "_generated") / "shakespeare_gpt_run.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fragment(run, args.quick))
    print(f"wrote {args.out_dir / 'shakespeare_gpt_curves.png'} and {target}")


if __name__ == "__main__":
    main()
