"""Shared by the figure scripts: arguments, the Agg backend, and saving."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the scripts only write PNG files

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def parse_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    return make_parser(description).parse_args(argv)


def make_parser(description: str) -> argparse.ArgumentParser:
    """``--out-dir`` and ``--quick``; a script adds its own arguments to it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--out-dir", type=Path, default=FIGURES, help="where to write (default: docs/figures)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps only (the test suite's smoke run)"
    )
    return parser


def add_data_dir(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--data-dir``, for the scripts that train on FashionMNIST."""
    parser.add_argument(
        "--data-dir",
        help="directory of the FashionMNIST IDX files (default: $REFNET_DATA_DIR, "
        "else ~/.cache/refnet/fashion-mnist)",
    )
    return parser


def save(figure: object, out_dir: Path, name: str, quick: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    figure.savefig(path, dpi=60 if quick else 110, bbox_inches="tight")  # type: ignore[attr-defined]
    print(f"wrote {path}")
    return path
