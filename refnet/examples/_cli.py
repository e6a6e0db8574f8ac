"""Argument types shared by the examples' command lines (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["non_negative_int", "positive"]


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """``kind`` (int or float) that refuses zero and negative values."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (a seed)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value
