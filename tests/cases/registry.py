"""The registry that drives the generic property tests.

Every public module class maps to a Hypothesis strategy of :class:`ModuleCase` (a module
in float64 and an input for it), every loss class to one of :class:`LossCase`. The
generic tests (``tests/test_module_properties.py``, ``tests/test_loss_properties.py``)
run the gradient check, the dtype, mutation, accumulation and ``state_dict`` invariants,
and the agreement with PyTorch over every registered class; ``test_coverage.py`` fails
when a public class of ``refnet.nn`` has no entry. Adding a layer means adding a case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from refnet._typing import Array
from refnet.nn import Module


@dataclass
class ModuleCase:
    """A float64 module and an input for it (or a tuple of inputs, for several).

    A module with several inputs gets ``x`` as a tuple, passed positionally, and
    ``forward_kwargs`` (masks, flags); its outputs may be a (nested) tuple, and ``unused``
    lists the index paths of the outputs the tests give no gradient (``None``).

    ``reset`` is called before every forward (re-seed a random module); ``torch_rtol64``
    loosens the float64 agreement tolerance for kernels whose summation order differs a
    lot. float32 comparisons also allow ``torch_atol32`` absolute (torch.testing's float32
    default, 1e-5): a float32 sum of O(1) terms that cancels to nearly zero differs between
    two summation orders by ~1e-7·Σ|terms|, which no relative tolerance absorbs.
    ``to_torch`` builds the torch counterpart of the (copied, dtype-converted) module
    instead of ``refnet.interop.torch.to_torch``: a random layer in training mode uses it
    to apply refnet's own mask in torch, since the two libraries' random streams differ.
    """

    module: Module
    x: Any
    reset: Callable[[], None] | None = None
    torch_rtol64: float = 1e-10
    torch_rtol32: float = 1e-5
    torch_atol32: float = 1e-5
    notes: dict[str, Any] = field(default_factory=dict)
    to_torch: Callable[[Module], Any] | None = None
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    unused: tuple[tuple[int, ...], ...] = ()

    @property
    def inputs(self) -> tuple[Any, ...]:
        """The positional inputs, as a tuple."""
        return tuple(self.x) if isinstance(self.x, tuple) else (self.x,)

    def call(self, inputs: tuple[Any, ...] | None = None) -> Any:
        """Reset the module if it is random, then run it on ``inputs`` (default: the case's)."""
        if self.reset is not None:
            self.reset()
        return self.module(*(self.inputs if inputs is None else inputs), **self.forward_kwargs)


@dataclass
class LossCase:
    """A loss, its differentiated inputs and its (not differentiated) targets, float64."""

    criterion: Module
    inputs: tuple[Array, ...]
    targets: tuple[Any, ...] = ()
    torch_rtol64: float = 1e-10
    torch_rtol32: float = 1e-5


MODULE_CASES: dict[type[Module], st.SearchStrategy[ModuleCase]] = {}
LOSS_CASES: dict[type[Module], st.SearchStrategy[LossCase]] = {}

# Public classes that are not compared with PyTorch, and why (e.g. no torch counterpart).
NOT_IN_TORCH: dict[type[Module], str] = {}


def module_case(
    *classes: type[Module],
) -> Callable[[Callable[..., ModuleCase]], Callable[..., ModuleCase]]:
    """Register a composite-strategy function ``fn(draw) -> ModuleCase`` for ``classes``."""

    def decorate(fn: Callable[..., ModuleCase]) -> Callable[..., ModuleCase]:
        strategy = st.composite(fn)()
        for cls in classes:
            MODULE_CASES[cls] = strategy
        return fn

    return decorate


def loss_case(
    *classes: type[Module],
) -> Callable[[Callable[..., LossCase]], Callable[..., LossCase]]:
    """Register a composite-strategy function ``fn(draw) -> LossCase`` for ``classes``."""

    def decorate(fn: Callable[..., LossCase]) -> Callable[..., LossCase]:
        strategy = st.composite(fn)()
        for cls in classes:
            LOSS_CASES[cls] = strategy
        return fn

    return decorate
