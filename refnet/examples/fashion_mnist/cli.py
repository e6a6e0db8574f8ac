"""The command line: ``python -m refnet.examples.fashion_mnist`` (or ``refnet-fashion-mnist``).

Every recipe flag (``--epochs``, ``--lr``, ...) defaults to the model's recipe
(:data:`~refnet.examples.fashion_mnist.models.RECIPES`) and, with ``--resume``, to the
checkpoint's value. Exit status: 0 on success, 1 if training diverged, 2 for a usage or
data problem (missing files, a bad flag value, a checkpoint that is corrupt, incomplete or
of another configuration, an output directory that is a file), 3 when the run's files
cannot be written (a read-only directory, a full disk), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from refnet.data import DownloadError
from refnet.examples._cli import non_negative_int, positive
from refnet.examples.fashion_mnist.checkpoints import (
    BEST,
    LATEST,
    ResumeError,
    load_checkpoint,
    resume_config,
    save_checkpoint,
)
from refnet.examples.fashion_mnist.data import DEFAULT_VAL_SIZE, DataSplits, load_splits
from refnet.examples.fashion_mnist.metrics import confusion_matrix, format_epoch, write_metrics
from refnet.examples.fashion_mnist.models import MODELS, RECIPES, summary
from refnet.examples.fashion_mnist.training import OPTIMIZERS, SCHEDULERS, Config, Trainer

__all__ = ["build_parser", "main"]

DEFAULT_MODEL = "cnn"
DEFAULT_SEED = 0
DEFAULT_GRAD_NORM_EVERY = 10

#: The Config fields that flags set; ``data`` comes from the images themselves.
FLAG_FIELDS = tuple(f.name for f in dataclasses.fields(Config) if f.name != "data")


class UsageError(Exception):
    """A problem the user can fix (printed without a traceback, exit status 2)."""


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text}")
    return value


def _recipes_text() -> str:
    lines = ["default recipes (each flag overrides):"]
    for name, r in RECIPES.items():
        lines.append(
            f"  {name:<6} {r.optimizer} lr={r.lr:g} batch={r.batch_size} epochs={r.epochs} "
            f"scheduler={r.scheduler} weight_decay={r.weight_decay:g}"
            + (f" momentum={r.momentum:g}" if r.optimizer in ("sgd", "rmsprop") else "")
        )
    return "\n".join(lines)


def _program_name() -> str:
    """``refnet-fashion-mnist`` when run as the console script, else the ``-m`` form."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if name and name not in ("__main__.py", "-c") and not name.endswith(".py"):
        return name
    return "python -m refnet.examples.fashion_mnist"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_program_name(),
        description="Train a FashionMNIST classifier with refnet (pure NumPy, hand-written "
        "backward passes): progress, checkpoints, metrics and figures.",
        epilog=_recipes_text() + "\n\nexamples:\n"
        "  python -m refnet.examples.fashion_mnist --download\n"
        "  python -m refnet.examples.fashion_mnist --model lenet --data-dir DIR "
        "--out-dir runs/lenet\n"
        "  python -m refnet.examples.fashion_mnist --out-dir runs/lenet --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    recipe = parser.add_argument_group("model and recipe")
    recipe.add_argument("--model", choices=list(MODELS), help=f"default: {DEFAULT_MODEL}")
    recipe.add_argument("--epochs", type=positive(int))
    recipe.add_argument("--batch-size", type=positive(int))
    recipe.add_argument("--lr", type=positive(float), help="(peak) learning rate")
    recipe.add_argument("--optimizer", choices=OPTIMIZERS)
    recipe.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        help="stepped every batch: step (x0.7 per epoch), cosine (to 0), onecycle",
    )
    recipe.add_argument("--momentum", type=_non_negative_float, help="for sgd and rmsprop")
    recipe.add_argument("--weight-decay", type=_non_negative_float)
    recipe.add_argument("--clip-grad-norm", type=positive(float), help="default: no clipping")
    recipe.add_argument(
        "--seed",
        type=non_negative_int,
        help=f"seeds the initial weights, the shuffling and dropout (default: {DEFAULT_SEED})",
    )

    data = parser.add_argument_group("data")
    data.add_argument(
        "--data-dir",
        help="directory of the FashionMNIST IDX files (default: $REFNET_DATA_DIR, else "
        "~/.cache/refnet/fashion-mnist)",
    )
    data.add_argument(
        "--download",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="download missing files into the data directory (default: no)",
    )
    data.add_argument(
        "--val-size",
        type=positive(int),
        help="hold out the last N training images for validation. Default: validate on the "
        f"official test split if present, else hold out {DEFAULT_VAL_SIZE:,} images (the "
        "8,226-image subset: train on the first 7,000), or a fifth of a smaller split",
    )
    data.add_argument(
        "--train-size",
        type=positive(int),
        help="train on the first N training images only (quick runs)",
    )

    output = parser.add_argument_group("output")
    output.add_argument(
        "--out-dir",
        type=Path,
        help="checkpoints, metrics and figures (default: runs/fashion-mnist-MODEL)",
    )
    output.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out-dir from its latest checkpoint (exactly as if it "
        "had not stopped); the checkpoint's flags are used, and flags given must match",
    )
    output.add_argument(
        "--overwrite", action="store_true", help="start a new run over an existing one"
    )
    output.add_argument("--no-plots", action="store_true", help="skip the matplotlib figures")
    output.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the per-epoch progress bar (default: when stderr is a terminal)",
    )
    output.add_argument(
        "--grad-norm-every",
        type=positive(int),
        help=f"record per-layer gradient norms every N steps (default: {DEFAULT_GRAD_NORM_EVERY})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (UsageError, ResumeError, FileNotFoundError, DownloadError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FloatingPointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the run's files: a read-only directory, a full disk
        where = f" ({error.filename})" if error.filename else ""
        print(
            f"error: cannot write the run's files{where}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 3


def check_out_dir(out_dir: Path) -> None:
    """Fail before training, not after an epoch, if the run's files cannot be written."""
    existing = out_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the directory is made only once the data has loaded
    if not existing.is_dir():
        raise UsageError(f"--out-dir {out_dir}: {existing} is a file, not a directory")
    probe = existing / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
    finally:
        probe.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """Resolve the config (recipe, flags, checkpoint), load the data, train, write the files."""
    out_dir: Path = args.out_dir or Path("runs") / f"fashion-mnist-{args.model or DEFAULT_MODEL}"
    requested = {field: getattr(args, field) for field in FLAG_FIELDS}
    checkpoint: dict[str, Any] | None = None
    if args.resume:
        checkpoint = load_checkpoint(out_dir / LATEST)
        config = resume_config(checkpoint["config"], requested)
    else:
        if (out_dir / LATEST).exists() and not args.overwrite:
            raise UsageError(
                f"{out_dir} already holds a run ({LATEST}): pass --resume to continue it, "
                "--overwrite to start again, or choose another --out-dir"
            )
        config = fresh_config(requested)
        if args.overwrite:  # a Ctrl-C before the first epoch ends must not resume the old run
            for name in (LATEST, BEST):
                (out_dir / name).unlink(missing_ok=True)
    check_out_dir(out_dir)
    if not args.no_plots:
        from refnet.examples.fashion_mnist.plots import require_matplotlib

        require_matplotlib()

    try:
        splits = load_splits(
            args.data_dir,
            val_size=config.val_size,
            train_size=config.train_size,
            download=args.download,
        )
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{error}\n(with this command: --download)") from None
    except ValueError as error:
        raise UsageError(str(error)) from None
    if checkpoint is not None:
        resume_config(dataclasses.asdict(config), {"data": splits.fingerprint})
    config = dataclasses.replace(config, data=splits.fingerprint)

    trainer = Trainer(config, splits)
    if checkpoint is not None:
        try:
            trainer.load_state_dict(checkpoint)
        except (KeyError, TypeError, ValueError) as error:
            raise ResumeError(
                f"--resume: {out_dir / LATEST} is incomplete or damaged ({error}); "
                "start again with --overwrite"
            ) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    print_header(config, splits, trainer, out_dir, resumed=checkpoint is not None)

    progress = Progress(saved_epoch=trainer.epoch)
    try:
        train(trainer, out_dir, args.progress, progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted {progress.doing}: the checkpoint {out_dir / LATEST} holds epoch "
            f"{progress.saved_epoch}; continue with --resume --out-dir {out_dir}",
            file=sys.stderr,
        )
        return 130
    finish(trainer, out_dir, plots=not args.no_plots)
    return 0


def fresh_config(requested: dict[str, Any]) -> Config:
    """The flags given, the model's recipe for the others, and the fixed defaults."""
    model = requested["model"] or DEFAULT_MODEL
    recipe = dataclasses.asdict(RECIPES[model])
    defaults = {
        **recipe,
        "model": model,
        "seed": DEFAULT_SEED,
        "grad_norm_every": DEFAULT_GRAD_NORM_EVERY,
    }
    values = {field: requested[field] for field in FLAG_FIELDS}
    for field, value in values.items():
        if value is None:
            values[field] = defaults.get(field)
    return Config(**values, data="")


def print_header(
    config: Config, splits: DataSplits, trainer: Trainer, out_dir: Path, *, resumed: bool
) -> None:
    print(f"refnet FashionMNIST example: model {config.model}, seed {config.seed}")
    print(f"data: {splits.describe()}")
    extras = [f"momentum={config.momentum:g}"] if config.optimizer in ("sgd", "rmsprop") else []
    if config.clip_grad_norm is not None:
        extras.append(f"clip_grad_norm={config.clip_grad_norm:g}")
    print(
        f"recipe: {config.optimizer} lr={config.lr:g} batch={config.batch_size} "
        f"epochs={config.epochs} scheduler={config.scheduler} "
        f"weight_decay={config.weight_decay:g} " + " ".join(extras)
    )
    print(summary(trainer.model))
    print(f"output: {out_dir}")
    if resumed:
        print(f"resuming after epoch {trainer.epoch} of {config.epochs} (step {trainer.step})")
    print(flush=True)


@dataclasses.dataclass
class Progress:
    """What is on disk and what the run is doing, for an interruption's message."""

    saved_epoch: int
    doing: str = "before the first epoch"


def train(
    trainer: Trainer, out_dir: Path, show_bar: bool | None, progress: Progress | None = None
) -> None:
    """The epochs still to run: train, evaluate, print, checkpoint, write the metrics.

    ``best.npz`` is written before ``latest.npz``: ``latest.npz`` is the commit point. An
    interruption before it is written leaves the epoch to be run again by ``--resume``
    (bit-identically, rewriting ``best.npz``), so the two can never disagree for good.
    """
    progress = progress or Progress(saved_epoch=trainer.epoch)
    epochs = trainer.config.epochs
    if trainer.epoch >= epochs:
        print(f"the run has already completed {trainer.epoch} epochs; nothing to train")
    while trainer.epoch < epochs:
        best_before = trainer.best
        progress.doing = f"during epoch {trainer.epoch + 1} of {epochs}"
        with ProgressBar(
            total=len(trainer.loader.dataset),
            description=f"epoch {trainer.epoch + 1}/{epochs}",
            enabled=show_bar,
        ) as bar:
            entry = trainer.train_epoch(progress=bar.update)
        print(format_epoch(entry, epochs), flush=True)
        progress.doing = f"while writing the checkpoints of epoch {trainer.epoch}"
        if best_before is None or entry["val_acc"] > best_before["val_acc"]:
            save_checkpoint(out_dir / BEST, trainer)
        save_checkpoint(out_dir / LATEST, trainer)
        progress.saved_epoch = trainer.epoch
        progress.doing = f"while writing the metrics of epoch {trainer.epoch}"
        write_run_metrics(trainer, out_dir)


def write_run_metrics(trainer: Trainer, out_dir: Path) -> list[Path]:
    evaluation = trainer.evaluation()
    splits = trainer.splits
    return write_metrics(
        out_dir,
        config=dataclasses.asdict(trainer.config),
        data=splits.describe(),
        history=trainer.history,
        grad_norms=trainer.grad_norms.state_dict(),
        confusion=confusion_matrix(evaluation.predictions, splits.val_labels, len(splits.classes)),
        classes=splits.classes,
    )


def finish(trainer: Trainer, out_dir: Path, *, plots: bool) -> None:
    """Metrics and figures for the final model, and a closing summary."""
    files = [out_dir / LATEST, out_dir / BEST, *write_run_metrics(trainer, out_dir)]
    if plots:
        from refnet.examples.fashion_mnist.plots import save_figures

        evaluation, splits = trainer.evaluation(), trainer.splits
        files += save_figures(
            out_dir,
            history=trainer.history,
            grad_norms=trainer.grad_norms.state_dict(),
            confusion=confusion_matrix(
                evaluation.predictions, splits.val_labels, len(splits.classes)
            ),
            classes=splits.classes,
            images=splits.val_images,
            labels=splits.val_labels,
            predictions=evaluation.predictions,
        )
    best = trainer.best
    if best is not None:
        last = trainer.history[-1]
        total = sum(h["seconds"] for h in trainer.history)
        epochs = int(last["epoch"])
        print(
            f"\nfinal validation accuracy {last['val_acc']:.2%} after {epochs} "
            f"epoch{'s' if epochs != 1 else ''}; best {best['val_acc']:.2%} at epoch "
            f"{int(best['epoch'])}; training time {total:.0f}s"
        )
    print("wrote " + ", ".join(str(f) for f in files if f.exists()))


class ProgressBar:
    """A tqdm bar over the epoch's images with the running loss; a no-op without tqdm."""

    def __init__(self, total: int, description: str, enabled: bool | None) -> None:
        self._bar: Any = None
        if enabled is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        # disable=None: tqdm shows the bar only on a terminal (not in logs or pipes).
        self._bar = tqdm(
            total=total,
            desc=description,
            unit="img",
            disable=None if enabled is None else not enabled,
            leave=False,
            dynamic_ncols=True,
        )

    def update(self, images: int, running_loss: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss {running_loss:.4f}", refresh=False)
            self._bar.update(images)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
