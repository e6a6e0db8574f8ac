"""The command line: ``python -m refnet.examples.shakespeare [train|sample|evaluate] ...``.

``train`` (the default) trains the GPT (``--model gpt``) or the LSTM recipe on a text
file; ``sample`` generates text from a checkpoint; ``evaluate`` prints a checkpoint's
loss on another text. Exit status: 0 on success, 1 if training diverged, 2 for a usage or
data problem (a missing, empty or binary text, a bad flag value, a checkpoint that is
corrupt or of another configuration, a prompt with unknown characters), 3 when the run's
files cannot be written, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from refnet import nn, no_grad
from refnet._atomic import atomic_write
from refnet.examples._cli import non_negative_int, positive
from refnet.examples.shakespeare.checkpoints import (
    BEST,
    LATEST,
    CheckpointError,
    config_of,
    load_checkpoint,
    resume_config,
    save_checkpoint,
)
from refnet.examples.shakespeare.data import (
    TextError,
    Vocabulary,
    download_tiny_shakespeare,
    fingerprint,
    read_text,
    split,
)
from refnet.examples.shakespeare.models import GPT, CharLSTM
from refnet.examples.shakespeare.sampling import generate
from refnet.examples.shakespeare.training import LN2, RECIPES, Config, Trainer, model_for

__all__ = ["main"]

#: The Config fields set by flags (``text`` is the data's fingerprint).
FLAG_FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "text")
SAMPLE_LENGTH = 500
PROGRESS_SAMPLE = 200
CSV_COLUMNS = ("iter", "train_loss", "val_loss", "train_bits", "val_bits", "lr", "seconds")


class UsageError(Exception):
    """A problem the user can fix (one line, exit status 2)."""


class DivergedError(Exception):
    """The loss became NaN or infinite (exit status 1)."""


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refnet.examples.shakespeare",
        description="Train a character-level language model (a GPT or an LSTM) with refnet. "
        "Subcommands: train (default), sample, evaluate (each has --help).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a text file (UTF-8)")
    source.add_argument("--download", action="store_true", help="fetch tiny shakespeare")
    parser.add_argument("--model", choices=("gpt", "lstm"))
    for name, kind in [
        ("iters", int), ("batch-size", int), ("block-size", int), ("n-layer", int),
        ("n-head", int), ("n-embd", int), ("lr", float), ("eval-interval", int),
        ("eval-iters", int), ("warmup-iters", int),
    ]:  # fmt: skip
        parser.add_argument(f"--{name}", type=positive(kind))
    parser.add_argument("--seed", type=non_negative_int)
    parser.add_argument("--out-dir", type=Path, help="default: runs/shakespeare-MODEL")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in --out-dir")
    parser.add_argument("--no-plots", action="store_true", help="write no figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def sample_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refnet.examples.shakespeare sample",
        description="Generate text from a checkpoint.",
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--prompt", default="\n")
    parser.add_argument("--temperature", type=positive(float), default=0.8)
    parser.add_argument("--top-k", type=positive(int), default=None)
    parser.add_argument("--length", type=positive(int), default=SAMPLE_LENGTH)
    parser.add_argument("--seed", type=non_negative_int, default=0)
    return parser


def evaluate_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refnet.examples.shakespeare evaluate",
        description="A checkpoint's loss on a text, in nats and bits per character.",
    )
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch-size", type=positive(int), default=32)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args and args[0] in ("train", "sample", "evaluate") else "train"
    parser = {"train": train_parser, "sample": sample_parser, "evaluate": evaluate_parser}
    parsed = parser[command]().parse_args(args)
    action = {"train": run_training, "sample": run_sampling, "evaluate": run_evaluation}
    try:
        return action[command](parsed)
    except (UsageError, TextError, CheckpointError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except DivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: cannot read or write{where}: {error.strerror or error}", file=sys.stderr)
        return 3


# ---------------------------------------------------------------------- train


def fresh_config(args: argparse.Namespace, text: str) -> Config:
    """The flags given, the model's recipe for the rest."""
    model = args.model or "gpt"
    values = {**dataclasses.asdict(Config()), **RECIPES[model], "model": model}
    for name in FLAG_FIELDS:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    return Config(**{**values, "text": fingerprint(text)})


def load_corpus(args: argparse.Namespace) -> str:
    path = download_tiny_shakespeare() if args.download else args.data
    return read_text(path)


def run_training(args: argparse.Namespace) -> int:
    text = load_corpus(args)
    out_dir: Path = args.out_dir or Path("runs") / f"shakespeare-{args.model or 'gpt'}"
    document = None
    if args.resume:
        document = load_checkpoint(out_dir / LATEST)
        requested = {name: getattr(args, name, None) for name in FLAG_FIELDS}
        config = resume_config(document, {**requested, "text": fingerprint(text)})
        vocab = Vocabulary(str(document["vocab"]))
    else:
        if (out_dir / LATEST).exists() and not args.overwrite:
            raise UsageError(
                f"{out_dir} already holds a run ({LATEST}): --resume to continue it, "
                "--overwrite to start again, or another --out-dir"
            )
        config = fresh_config(args, text)
        vocab = Vocabulary.from_text(text)
        for name in (LATEST, BEST):  # a Ctrl-C before the first evaluation must not
            (out_dir / name).unlink(missing_ok=True)  # leave the old run to --resume
    check_config(config)
    if not args.no_plots:
        require_matplotlib()
    train_ids, val_ids = split(vocab.encode(text))
    for name, ids in (("training", train_ids), ("validation", val_ids)):
        if len(ids) <= config.block_size:
            raise UsageError(
                f"the {name} split has {len(ids)} characters, too few for --block-size "
                f"{config.block_size}"
            )
    trainer = Trainer(config, vocab, train_ids, val_ids)
    if document is not None:
        try:
            trainer.load_state_dict(document)
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(
                f"{out_dir / LATEST} is incomplete or damaged ({error}); start again with "
                "--overwrite"
            ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    print_header(trainer, len(text), out_dir)
    try:
        train(trainer, out_dir, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted at iteration {trainer.iter}: {out_dir / LATEST} holds the last "
            f"evaluation; continue with --resume --out-dir {out_dir}",
            file=sys.stderr,
        )
        return 130
    finish(trainer, out_dir, plots=not args.no_plots)
    return 0


def check_config(config: Config) -> None:
    if config.model == "gpt" and config.n_embd % config.n_head:
        raise UsageError(f"--n-embd {config.n_embd} must be divisible by --n-head {config.n_head}")


def require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            "the figures need matplotlib: pip install 'refnet[examples]', or pass --no-plots"
        ) from None


def print_header(trainer: Trainer, characters: int, out_dir: Path) -> None:
    c = trainer.config
    parameters = sum(p.size for p in trainer.model.parameters())
    print(f"refnet Shakespeare example: {c.model}, seed {c.seed}")
    print(
        f"data: {characters:,} characters, vocabulary {trainer.vocab.size}; "
        f"{len(trainer.train_ids):,} for training, {len(trainer.val_ids):,} for validation"
    )
    shape = f"{c.n_layer} layers x {c.n_embd}" + (f", {c.n_head} heads" if c.model == "gpt" else "")
    print(
        f"model: {shape}, context {c.block_size}, {parameters:,} parameters; AdamW lr {c.lr:g} "
        f"(warm-up {c.warmup_iters}, cosine to {c.min_lr:g}), batch {c.batch_size}, "
        f"{c.iters} iterations"
    )
    print(f"output: {out_dir}")
    if trainer.iter:
        print(f"resuming at iteration {trainer.iter} of {c.iters}")
    print(flush=True)


def format_eval(entry: dict[str, Any], trainer: Trainer) -> str:
    per_iter = 1e3 * entry["seconds"] / max(entry["iter"], 1)
    return (
        f"iter {int(entry['iter']):>5}: train {entry['train_loss']:.4f} "
        f"({entry['train_bits']:.3f} bits), val {entry['val_loss']:.4f} "
        f"({entry['val_bits']:.3f} bits), {per_iter:.1f} ms/iter"
    )


def train(trainer: Trainer, out_dir: Path, progress: bool) -> None:
    """Train to the config's last iteration; checkpoint and write metrics at each evaluation.

    ``best.npz`` is written before ``latest.npz`` (the commit point): an interruption in
    between leaves the evaluation to be redone by ``--resume``, which rewrites both.
    """
    iters = trainer.config.iters
    if trainer.iter >= iters:
        print(f"the run has already completed {trainer.iter} iterations; nothing to train")
        return
    bar = ProgressBar(iters, trainer.iter, enabled=progress)

    def on_step(loss: float, seconds: float) -> None:
        if not math.isfinite(loss):
            raise DivergedError(f"the loss became {loss} at iteration {trainer.iter}; lower --lr")
        bar.update(loss)

    def on_eval(entry: dict[str, Any]) -> None:
        bar.write(format_eval(entry, trainer))
        entry["sample"] = progress_sample(trainer)
        best = trainer.best
        if best is not None and best["iter"] == entry["iter"]:
            save_checkpoint(out_dir / BEST, trainer)
        save_checkpoint(out_dir / LATEST, trainer)
        write_metrics(trainer, out_dir)
        write_samples(trainer, out_dir)

    try:
        trainer.run(iters, on_step, on_eval)
    finally:
        bar.close()


def write_metrics(trainer: Trainer, out_dir: Path) -> list[Path]:
    best = trainer.best
    document = {
        "config": dataclasses.asdict(trainer.config),
        "history": trainer.history,
        "best": None if best is None else {"iter": best["iter"], "val_loss": best["val_loss"]},
    }
    json_path, csv_path = out_dir / "metrics.json", out_dir / "metrics.csv"
    with atomic_write(json_path) as f:
        f.write(json.dumps(document, indent=1).encode())
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in trainer.history:
        writer.writerow({key: entry[key] for key in CSV_COLUMNS})
    with atomic_write(csv_path) as f:
        f.write(table.getvalue().encode())
    return [json_path, csv_path]


def progress_sample(trainer: Trainer) -> str:
    """A short sample at an evaluation (its own seeded draws: training is not affected)."""
    rng = np.random.default_rng([trainer.config.seed, 3, trainer.iter])
    return generate(trainer.model, trainer.vocab, "\n", PROGRESS_SAMPLE, rng, temperature=0.8)


def write_samples(trainer: Trainer, out_dir: Path, final: str | None = None) -> Path:
    """``samples.txt``: the sample of every evaluation so far, then the final one."""
    parts = [
        f"--- iteration {int(h['iter'])} (val loss {h['val_loss']:.3f}) ---{h['sample']}\n"
        for h in trainer.history
        if "sample" in h
    ]
    if final is not None:
        parts.append(f"--- final model, iteration {trainer.iter}, temperature 0.8 ---\n{final}\n")
    path = out_dir / "samples.txt"
    with atomic_write(path) as f:
        f.write("\n".join(parts).encode())
    return path


def finish(trainer: Trainer, out_dir: Path, *, plots: bool) -> None:
    """A sample of the final model (printed and saved), the figures, a closing line."""
    text = generate(
        trainer.model,
        trainer.vocab,
        "\n",
        SAMPLE_LENGTH,
        np.random.default_rng(trainer.config.seed),
        temperature=0.8,
        top_k=None,
    )
    print("\nsample (temperature 0.8):\n" + text)
    files = [out_dir / LATEST, out_dir / BEST, *write_metrics(trainer, out_dir)]
    files.append(write_samples(trainer, out_dir, final=text))
    if plots:
        files += save_plots(trainer, out_dir)
    best = trainer.best
    if best is not None:
        print(
            f"\nvalidation loss {trainer.history[-1]['val_loss']:.4f} nats/char "
            f"({trainer.history[-1]['val_bits']:.3f} bits) after {trainer.iter} iterations; "
            f"best {best['val_loss']:.4f} at {int(best['iter'])}; training time "
            f"{trainer.seconds:.0f}s"
        )
    print("wrote " + ", ".join(str(f) for f in files if f.exists()))


def save_plots(trainer: Trainer, out_dir: Path) -> list[Path]:
    from refnet.examples.shakespeare.plots import attention_figure, curves_figure, save_figure

    paths = [save_figure(curves_figure(trainer.history), out_dir / "curves.png")]
    if isinstance(trainer.model, GPT):
        line = trainer.val_ids[: min(trainer.config.block_size, 48)]
        trainer.model.eval()
        with no_grad():
            maps = trainer.model.attention_maps(line[None])
        trainer.model.train()
        figure = attention_figure(maps, trainer.vocab.decode(line))
        paths.append(save_figure(figure, out_dir / "attention.png"))
    return paths


class ProgressBar:
    """A tqdm bar over the iterations with the running loss (a no-op without tqdm)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self._bar: Any = None
        self._running: float | None = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(
            total=total, initial=done, unit="it", disable=None, leave=False, dynamic_ncols=True
        )

    def update(self, loss: float) -> None:
        self._running = loss if self._running is None else 0.9 * self._running + 0.1 * loss
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {self._running:.4f}", refresh=False)
            self._bar.update(1)

    def write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# ---------------------------------------------------------------------- sample, evaluate


class SavedModel(NamedTuple):
    model: GPT | CharLSTM
    vocab: Vocabulary
    config: Config


def model_from_checkpoint(path: Path) -> SavedModel:
    """The model a checkpoint holds, with its vocabulary and recipe (no optimizer)."""
    document = load_checkpoint(path)
    config = config_of(document)
    vocab = Vocabulary(str(document["vocab"]))
    model = model_for(config, vocab.size)
    model.load_state_dict(document["model"])
    return SavedModel(model, vocab, config)


def run_sampling(args: argparse.Namespace) -> int:
    model, vocab, config = model_from_checkpoint(args.checkpoint)
    prompt = args.prompt.replace("\\n", "\n")
    unknown = vocab.unknown(prompt)
    if unknown:
        raise UsageError(f"the prompt has characters the model never saw: {''.join(unknown)!r}")
    if isinstance(model, GPT) and len(prompt) > config.block_size:
        print(
            f"note: the prompt is longer than the model's context ({config.block_size}); "
            "the model sees its last characters",
            file=sys.stderr,
        )
    text = generate(
        model,
        vocab,
        prompt,
        args.length,
        np.random.default_rng(args.seed),
        temperature=args.temperature,
        top_k=args.top_k,
    )
    print(text)
    return 0


def run_evaluation(args: argparse.Namespace) -> int:
    saved = model_from_checkpoint(args.checkpoint)
    ids, skipped = saved.vocab.encode_known(read_text(args.data))
    if skipped:
        unknown = saved.vocab.unknown(read_text(args.data))
        print(
            f"note: skipped {skipped:,} characters outside the vocabulary ({''.join(unknown)!r})",
            file=sys.stderr,
        )
    loss, count = evaluate_text(saved.model, saved.config.block_size, ids, args.batch_size)
    print(
        f"{args.data}: {loss:.4f} nats/char ({loss / LN2:.3f} bits/char) over {count:,} "
        "predicted characters"
    )
    return 0


def evaluate_text(
    model: GPT | CharLSTM, block_size: int, ids: np.ndarray[Any, Any], batch_size: int
) -> tuple[float, int]:
    """Mean next-character loss over the text cut into consecutive windows of the context."""
    T = block_size
    windows = (len(ids) - 1) // T
    if windows == 0:
        raise UsageError(f"the text has {len(ids)} known characters, too few for a context of {T}")
    x = ids[: windows * T].reshape(windows, T)
    y = ids[1 : windows * T + 1].reshape(windows, T)
    criterion = nn.CrossEntropyLoss()
    total = 0.0
    model.eval()
    with no_grad():
        for start in range(0, windows, batch_size):
            logits = model(x[start : start + batch_size])
            rows = logits.reshape(-1, logits.shape[-1])
            total += float(criterion(rows, y[start : start + batch_size].reshape(-1))) * len(rows)
    return total / (windows * T), windows * T


if __name__ == "__main__":
    raise SystemExit(main())
