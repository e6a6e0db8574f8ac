"""``no_grad()``: forward passes that keep nothing for a backward (PyTorch: ``torch.no_grad``).

Every module keeps each forward's cache until a backward consumes it (see
:class:`refnet.nn.Module`). An evaluation loop has no backward, so it runs under
``no_grad()``: each forward then drops its cache as soon as it returns, memory stays
flat, and a ``backward`` that would need such a forward fails clearly.

>>> import numpy as np, refnet, refnet.nn as nn
>>> layer = nn.Linear(3, 2)
>>> with refnet.no_grad():
...     y = layer(np.ones((4, 3), dtype=np.float32))
>>> refnet.is_grad_enabled()
True

The state is per thread, as in PyTorch, and ``no_grad`` also decorates a function.
"""

from __future__ import annotations

import threading
from contextlib import ContextDecorator
from types import TracebackType

__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]


class _GradMode(threading.local):
    enabled: bool = True


_MODE = _GradMode()


def is_grad_enabled() -> bool:
    """Whether forward passes keep their caches for a backward (``True`` outside ``no_grad``)."""
    return _MODE.enabled


class _Switch(ContextDecorator):
    """A context (and decorator) that sets the mode inside and restores it after."""

    _mode: bool

    def __init__(self) -> None:
        self._previous: list[bool] = []  # a stack: one instance may be entered recursively

    def __enter__(self) -> None:
        self._previous.append(_MODE.enabled)
        _MODE.enabled = self._mode

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        _MODE.enabled = self._previous.pop()


class set_grad_enabled(_Switch):  # noqa: N801 (PyTorch's name)
    """Turn caching for backward on or off: at once when called, and as a context that
    restores the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self._mode = bool(mode)
        self._previous.append(_MODE.enabled)
        _MODE.enabled = self._mode

    def __enter__(self) -> None:
        _MODE.enabled = self._mode  # the previous mode was saved when called


class no_grad(_Switch):  # noqa: N801 (PyTorch's name)
    """Forward passes inside keep no cache: for evaluation and inference."""

    _mode = False


class enable_grad(_Switch):  # noqa: N801 (PyTorch's name)
    """Caching on again inside a ``no_grad`` block."""

    _mode = True
