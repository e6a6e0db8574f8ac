"""Learning-rate schedulers (PyTorch: ``torch.optim.lr_scheduler``).

A scheduler changes ``optimizer.param_groups[i]["lr"]`` between optimizer steps::

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch()          # optimizer.step() inside
        scheduler.step()

The semantics are PyTorch's, including the details that make sequences agree exactly:

* constructing a scheduler stores each group's ``initial_lr`` (if not already there),
  takes ``base_lrs`` from it, and performs an initial step to ``last_epoch = 0``;
* most schedulers are *chainable*: ``get_lr()`` multiplies the group's current ``lr``
  (so two schedulers on one optimizer compose); closed forms are only used where
  PyTorch uses them (``SequentialLR`` at a milestone);
* ``CosineAnnealingLR`` uses PyTorch's recursive form;
* ``CyclicLR`` and ``OneCycleLR`` also cycle ``momentum`` (SGD, RMSprop) or ``betas[0]``
  (Adam and relatives), inversely to the learning rate.

``state_dict()`` holds plain data only (ints, floats, strings, bools, ``None``, lists and
dicts), with PyTorch's keys; a function given to ``LambdaLR`` or ``CyclicLR`` is not saved
(a callable object's ``__dict__`` is), as in PyTorch. Deliberate differences: ``step()``
takes no ``epoch`` argument (deprecated in PyTorch) except in
``CosineAnnealingWarmRestarts``, where PyTorch documents it; there is no warning about
calling ``scheduler.step()`` before ``optimizer.step()``; ``load_state_dict`` rejects a
dict whose keys do not match the scheduler's.
"""

from __future__ import annotations

import copy
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from types import FunctionType
from typing import Any, ClassVar, Literal

from refnet.optim.optimizer import Optimizer

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

# Attributes PyTorch's schedulers keep in their state dicts that mean nothing here; a
# PyTorch state dict may contain them and they are ignored on load.
_TORCH_ONLY_KEYS = frozenset({"_get_lr_called_within_step", "_is_initial", "verbose"})


def _check_optimizer(optimizer: object, who: str) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"{who}: expected a refnet.optim.Optimizer, got {type(optimizer).__module__}."
            f"{type(optimizer).__qualname__}"
        )
    return optimizer


def _per_group(name: str, optimizer: Optimizer, value: Any, who: str) -> list[Any]:
    """One value per param group: a scalar is repeated, a list must have the right length."""
    count = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(
                f"{who}: {name} must have one value per param group: got {len(value)} "
                f"values for {count} groups"
            )
        return list(value)
    return [value] * count


def _positive_int(value: object, name: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{who}: expected a positive integer {name}, got {value!r}")
    return value


def _real(value: object, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a real number, got {type(value).__name__}")
    return float(value)


def _factor(value: object, name: str, who: str) -> float:
    """A multiplicative factor of the learning rate: finite and >= 0."""
    factor = _real(value, name, who)
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"{who}: {name} must be finite and >= 0, got {factor}")
    return factor


def _positive_rates(values: list[Any], name: str, who: str) -> list[Any]:
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, Real)
            or not 0 < float(value) < math.inf
        ):
            raise ValueError(f"{who}: {name} must be finite and positive, got {value!r}")
    return values


def _function_state(fn: Any) -> dict[str, Any] | None:
    """What PyTorch saves of a user function: nothing for a function, ``__dict__`` otherwise."""
    if fn is None or isinstance(fn, FunctionType):
        return None
    return dict(fn.__dict__)


def _check_rates(scheduler: object, values: Sequence[float]) -> None:
    """Refuse a schedule that would set an infinite or NaN learning rate (a ``lr_lambda``
    returning NaN). Arguments that make rates negative are refused where they are given;
    a schedule's own round-off below zero (one-cycle's last linear step) is PyTorch's."""
    for i, lr in enumerate(values):
        if not math.isfinite(lr):
            raise ValueError(
                f"{type(scheduler).__name__}: the schedule gives param group {i} the learning "
                f"rate {lr} (a rate must be finite: check lr_lambda and the factors)"
            )


class LRScheduler:
    """Base class of the schedulers (PyTorch: ``torch.optim.lr_scheduler.LRScheduler``).

    Subclasses implement :meth:`get_lr`, the learning rates for ``last_epoch`` (already
    advanced). ``last_epoch=-1`` starts a schedule; a non-negative value resumes one and
    requires ``initial_lr`` in every param group (from the optimizer's saved state).
    """

    #: Attributes that are not part of the state dict.
    _not_saved: ClassVar[frozenset[str]] = frozenset({"optimizer"})
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        who = type(self).__name__
        self.optimizer = _check_optimizer(optimizer, who)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(
                        f"{who}: param group {i} has no 'initial_lr', needed to resume with "
                        f"last_epoch={last_epoch}; load the optimizer's state first, or "
                        "use last_epoch=-1 for a fresh run"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and step once (to ``last_epoch + 1``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            del self._is_initial  # back to the class default, out of the state dict

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the latest step, one per param group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one step (call it after ``optimizer.step()``) and set the new rates."""
        self._step_count += 1
        self._update_lr()

    def _update_lr(self, epoch: int | None = None) -> None:
        previous = self.last_epoch
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._closed_form_lr()
        try:
            _check_rates(self, values)
        except ValueError:
            self.last_epoch = previous
            raise
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _closed_form_lr(self) -> list[float]:
        """Rates at ``last_epoch`` from ``base_lrs`` (used by ``SequentialLR`` at milestones)."""
        return self.get_lr()

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer, as plain data (PyTorch's keys)."""
        return {
            key: copy.deepcopy(value)
            for key, value in self.__dict__.items()
            if key not in self._not_saved
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (or from PyTorch's same scheduler)."""
        who = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{who}: a state dict must be a dict, got {type(state_dict).__name__}")
        expected = set(self.state_dict())
        given = set(state_dict) - _TORCH_ONLY_KEYS
        if given != expected:
            raise ValueError(
                f"{who}: the state dict does not belong to this scheduler: unexpected keys "
                f"{sorted(given - expected)}, missing keys {sorted(expected - given)}"
            )
        self._load(copy.deepcopy({key: state_dict[key] for key in given}))

    def _load(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class LambdaLR(LRScheduler):
    """``lr = base_lr · λ(epoch)`` (PyTorch: ``LambdaLR``); one function or one per group.

    The functions are not saved in the state dict (``None`` stands in for them; a callable
    object's ``__dict__`` is saved), as in PyTorch.
    """

    _not_saved = frozenset({"optimizer", "lr_lambdas"})

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer, type(self).__name__)
        lambdas = _per_group("lr_lambda", optimizer, lr_lambda, type(self).__name__)
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(
                    f"LambdaLR: lr_lambda should be a function, got {type(fn).__name__}"
                )
        self.lr_lambdas: list[Callable[[int], float]] = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [
            base_lr * fn(self.last_epoch)
            for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
        ]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["lr_lambdas"] = [_function_state(fn) for fn in self.lr_lambdas]
        return state

    def _load(self, state: dict[str, Any]) -> None:
        saved = state.pop("lr_lambdas")
        super()._load(state)
        for fn, attributes in zip(self.lr_lambdas, saved, strict=True):
            if attributes is not None:
                fn.__dict__.update(attributes)


class MultiplicativeLR(LambdaLR):
    """``lr_t = lr_{t-1} · λ(t)`` for t > 0 (PyTorch: ``MultiplicativeLR``): the factor
    multiplies the current rate, where :class:`LambdaLR`'s multiplies the base rate.

    With ``λ(t) = γ`` it is :class:`ExponentialLR`; one function or one per group, saved
    as ``LambdaLR`` saves them.
    """

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [
            lr * fn(self.last_epoch)
            for fn, lr in zip(self.lr_lambdas, self._group_lrs(), strict=True)
        ]


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs (PyTorch: ``StepLR``).

    ``lr_t = lr_{t-1} · γ`` when ``t > 0`` and ``t mod step_size = 0``, else unchanged;
    from a fresh start that is ``base_lr · γ^⌊t / step_size⌋``.
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = _positive_int(step_size, "step_size", "StepLR")
        self.gamma = _factor(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
        ]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (PyTorch: ``MultiStepLR``).

    A milestone listed k times multiplies by γᵏ. The state dict stores the milestones as
    a sorted list (PyTorch stores a ``Counter``).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        milestones = list(milestones)
        for m in milestones:
            if isinstance(m, bool) or not isinstance(m, int):
                raise TypeError(f"MultiStepLR: milestones must be integers, got {m!r}")
        self.milestones: Counter[int] = Counter(milestones)
        self.gamma = _factor(gamma, "gamma", "MultiStepLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._group_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [
            base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
            for base_lr in self.base_lrs
        ]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["milestones"] = sorted(self.milestones.elements())
        return state

    def _load(self, state: dict[str, Any]) -> None:
        milestones = state.pop("milestones")
        super()._load(state)
        self.milestones = Counter(milestones)  # a list, or PyTorch's Counter


class ConstantLR(LRScheduler):
    """Multiply the lr by ``factor`` until epoch ``total_iters`` (PyTorch: ``ConstantLR``).

    At t = 0 the lr is multiplied by the factor; at t = total_iters divided by it again.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        factor = _real(factor, "factor", "ConstantLR")
        if not 0 <= factor <= 1.0:
            raise ValueError(f"ConstantLR: factor must be between 0 and 1, got {factor}")
        self.factor = factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [
            base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
            for base_lr in self.base_lrs
        ]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` epochs (PyTorch: ``LinearLR``).

    Chainable form: at t = 0 multiply by start_factor; for 0 < t ≤ total_iters multiply by
    ``1 + (e − s) / (total_iters·s + (t − 1)(e − s))``, which turns factor f_{t-1} into f_t
    for ``f_t = s + (e − s)·t / total_iters``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        start_factor = _real(start_factor, "start_factor", "LinearLR")
        end_factor = _real(end_factor, "end_factor", "LinearLR")
        if not 0 < start_factor <= 1.0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1.0:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = _positive_int(total_iters, "total_iters", "LinearLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._group_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (
            self.total_iters * self.start_factor + (self.last_epoch - 1) * change
        )
        return [lr * factor for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        change = self.end_factor - self.start_factor
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * (self.start_factor + change * progress) for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch (PyTorch: ``ExponentialLR``)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _factor(gamma, "gamma", "ExponentialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    r"""Decay the lr polynomially to zero over ``total_iters`` epochs (PyTorch:
    ``PolynomialLR``): ``lr_t = base_lr · (1 − min(t, T) / T)^p``.

    Chainable form, for 0 < t ≤ T: multiply the current rate by the ratio of consecutive
    closed forms, ``((1 − t/T) / (1 − (t − 1)/T))^p``; from T on the rate stays (zero,
    alone). With ``power=1`` it is a linear decay.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = _positive_int(total_iters, "total_iters", "PolynomialLR")
        self.power = _real(power, "power", "PolynomialLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, total = self.last_epoch, self.total_iters
        if self._is_initial or t > total:
            return self._group_lrs()
        factor = ((1.0 - t / total) / (1.0 - (t - 1) / total)) ** self.power
        return [lr * factor for lr in self._group_lrs()]

    def _closed_form_lr(self) -> list[float]:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base_lr * (1.0 - progress) ** self.power for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs
    (PyTorch: ``CosineAnnealingLR``, without restarts).

    PyTorch's recursive form, which follows another scheduler's changes to the lr::

        η_t = η_min + (η_{t-1} − η_min) · (1 + cos(π t / T_max)) / (1 + cos(π (t−1) / T_max))

    except where t − 1 − T_max is a multiple of 2·T_max (the bottom of the cosine, where
    the ratio is 0/0): ``η_t = η_{t-1} + (base_lr − η_min)(1 − cos(π / T_max)) / 2``.
    Alone, it equals the closed form ``η_min + (base_lr − η_min)(1 + cos(π t / T_max)) / 2``
    up to rounding, and keeps oscillating past T_max.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.T_max = _positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _real(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        # PyTorch's get_lr also has a closed-form branch for ``_step_count == 1 and t > 0``;
        # since the initial step returns the groups' lrs (below), no call reaches it.
        if self._is_initial:
            return self._group_lrs()
        if (t - 1 - T) % (2 * T) == 0:
            return [
                lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                for base_lr, lr in zip(self.base_lrs, self._group_lrs(), strict=True)
            ]
        return [
            (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - eta_min)
            + eta_min
            for lr in self._group_lrs()
        ]

    def _closed_form_lr(self) -> list[float]:
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing restarted every T_i epochs, T_i growing by ``T_mult``
    (PyTorch: ``CosineAnnealingWarmRestarts``; SGDR, Loshchilov & Hutter, 2017)::

        η_t = η_min + (base_lr − η_min) (1 + cos(π T_cur / T_i)) / 2

    where T_cur counts epochs since the last restart; at T_cur = T_i it restarts at 0 and
    T_i becomes T_i · T_mult. ``step(epoch)`` may be given a (fractional) epoch, as in
    PyTorch, e.g. ``scheduler.step(epoch + i / iters)`` inside an epoch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.T_0 = _positive_int(T_0, "T_0", "CosineAnnealingWarmRestarts")
        if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
            raise ValueError(
                f"CosineAnnealingWarmRestarts: expected an integer T_mult >= 1, got {T_mult!r}"
            )
        self.T_i: float = T_0
        self.T_mult = T_mult
        self.eta_min = _real(eta_min, "eta_min", "CosineAnnealingWarmRestarts")
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base_lr - self.eta_min) * cosine / 2 for base_lr in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:
        """Advance one epoch, or jump to ``epoch`` (may be fractional)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(
                    f"CosineAnnealingWarmRestarts: expected a non-negative epoch, got {epoch}"
                )
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        values = self.get_lr()
        _check_rates(self, values)
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = self._group_lrs()


class _Composite(LRScheduler):
    """A scheduler made of schedulers (``SequentialLR``, ``ChainedScheduler``): their
    checks, and their state dicts nested under ``_schedulers``."""

    _not_saved = frozenset({"optimizer", "_schedulers"})
    _schedulers: list[LRScheduler]

    def _check_schedulers(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer) -> None:
        """Refuse anything but schedulers of ``optimizer`` that step without a metric."""
        who = type(self).__name__
        for i, scheduler in enumerate(schedulers):
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(
                    f"{who}: scheduler {i} is a {type(scheduler).__name__}, not an LRScheduler"
                )
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(
                    f"{who} does not support ReduceLROnPlateau (scheduler {i}): its step() "
                    "needs a metric"
                )
            if scheduler.optimizer is not optimizer:
                raise ValueError(
                    f"{who} expects all schedulers to belong to the same optimizer, but "
                    f"scheduler {i} ({type(scheduler).__name__}) has another one"
                )

    def _update_lr(self, epoch: int | None = None) -> None:
        raise TypeError(
            f"{type(self).__name__} has no closed form: it cannot start at a milestone of "
            "a SequentialLR"
        )

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _load(self, state: dict[str, Any]) -> None:
        saved = state.pop("_schedulers")
        if len(saved) != len(self._schedulers):
            raise ValueError(
                f"{type(self).__name__}: the state dict has {len(saved)} schedulers, this one "
                f"{len(self._schedulers)}"
            )
        super()._load(state)
        for scheduler, inner in zip(self._schedulers, saved, strict=True):
            scheduler.load_state_dict(inner)


class SequentialLR(_Composite):
    """Run ``schedulers[i]`` between ``milestones[i-1]`` and ``milestones[i]``
    (PyTorch: ``SequentialLR``), e.g. a linear warm-up followed by cosine annealing.

    At a milestone the next scheduler starts from its closed form at epoch 0 (its own
    fresh start); between milestones it steps normally. The state dict nests the
    schedulers' state dicts under ``_schedulers``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        who = type(self).__name__
        _check_optimizer(optimizer, who)
        if len(schedulers) < 1:
            raise ValueError(f"{who} expects at least one scheduler, but got none")
        self._check_schedulers(schedulers, optimizer)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"{who} expects one milestone fewer than schedulers, but got "
                f"{len(schedulers)} schedulers and {len(milestones)} milestones"
            )
        if list(milestones) != sorted(milestones):
            raise ValueError(f"{who}: milestones must be increasing, got {list(milestones)}")
        self._schedulers = list(schedulers)
        self._milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer

        # Undo the initial steps the schedulers took when they were built, then start
        # the first one afresh.
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self._undo_initial_steps(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    @classmethod
    def _undo_initial_steps(cls, scheduler: LRScheduler) -> None:
        if isinstance(scheduler, _Composite):
            for inner in scheduler._schedulers:
                cls._undo_initial_steps(inner)
        else:
            scheduler.last_epoch -= 1

    def step(self) -> None:
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """Step several schedulers together, every step (PyTorch: ``ChainedScheduler``).

    The schedulers are chainable, so their factors compose: ``ConstantLR`` with
    ``ExponentialLR`` gives a damped start of an exponential decay. Unlike
    :class:`SequentialLR`, every scheduler acts at every step. The state dict nests the
    schedulers' state dicts under ``_schedulers``.
    """

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None
    ) -> None:
        who = type(self).__name__
        if len(schedulers) < 1:
            raise ValueError(f"{who} expects at least one scheduler to be chained, but got none")
        owner = _check_optimizer(optimizer or schedulers[0].optimizer, who)
        self._check_schedulers(schedulers, owner)
        self._schedulers = list(schedulers)
        self.optimizer = owner
        self._last_lr = self._group_lrs()

    def step(self) -> None:
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = self._group_lrs()


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by ``factor`` when a metric stops improving (PyTorch:
    ``ReduceLROnPlateau``); call ``step(metric)`` once per epoch.

    An epoch is an improvement when the metric beats the best so far by the threshold:
    ``a < best·(1 − threshold)`` (mode ``'min'``, threshold_mode ``'rel'``),
    ``a < best − threshold`` (``'min'``, ``'abs'``), ``a > best·(1 + threshold)``
    (``'max'``, ``'rel'``) or ``a > best + threshold`` (``'max'``, ``'abs'``). After more
    than ``patience`` bad epochs in a row, each lr becomes ``max(lr·factor, min_lr)``
    (unless that changes it by less than ``eps``), then ``cooldown`` epochs are ignored.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        who = type(self).__name__
        factor = _real(factor, "factor", who)
        if not 0 <= factor < 1.0:
            raise ValueError(f"{who}: factor should be in [0, 1), got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{who}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        self.factor = factor
        self.optimizer = _check_optimizer(optimizer, who)
        self.default_min_lr: float | None
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group("min_lr", optimizer, min_lr, who)
        else:
            self.default_min_lr = _real(min_lr, "min_lr", who)
            self.min_lrs = [self.default_min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} "
                    f"param groups but min_lr has {len(self.min_lrs)} values (was a group "
                    "added?); update the min_lrs attribute to match"
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    @property
    def in_cooldown(self) -> bool:
        """Whether the scheduler is waiting out ``cooldown`` epochs after a reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold


class CyclicLR(LRScheduler):
    """Cycle the lr between ``base_lr`` and ``max_lr`` (PyTorch: ``CyclicLR``; Smith, 2017).

    With cycle length ``step_size_up + step_size_down`` (= S, rising for a fraction
    r = step_size_up / S), at batch t::

        cycle = ⌊1 + t / S⌋,   x = 1 + t / S − cycle
        s = x / r if x ≤ r else (x − 1) / (r − 1)            (0 → 1 → 0 over a cycle)
        lr = base_lr + (max_lr − base_lr) · s · scale
        momentum = max_momentum − (max_momentum − base_momentum) · s · scale

    ``scale`` is 1 (``'triangular'``), 1/2^(cycle−1) (``'triangular2'``), γ^t
    (``'exp_range'``) or ``scale_fn(cycle or t)``. With ``cycle_momentum`` the optimizer's
    ``momentum`` (or ``betas[0]``) moves opposite to the lr. Call ``step()`` after every
    batch.
    """

    _not_saved = frozenset({"optimizer", "_scale_fn_custom"})

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | Sequence[float],
        max_lr: float | Sequence[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.8,
        max_momentum: float | Sequence[float] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        who = type(self).__name__
        self.optimizer = _check_optimizer(optimizer, who)
        base_lrs = _per_group("base_lr", optimizer, base_lr, who)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
                group["lr"] = lr
        self.max_lrs = _positive_rates(_per_group("max_lr", optimizer, max_lr, who), "max_lr", who)
        self.total_size, self.step_ratio = _cycle_shape(step_size_up, step_size_down, who)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"{who}: mode {mode!r} is invalid and scale_fn is None")
        if scale_mode not in ("cycle", "iterations"):
            raise ValueError(f"{who}: scale_mode must be 'cycle' or 'iterations'")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_mode()

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1, self.base_momentums, self.max_momentums = _cycled_momentum(
                optimizer, base_momentum, max_momentum, last_epoch == -1, who
            )
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_mode(self) -> None:
        # The built-in policies fix the scale mode, overriding the argument (as PyTorch).
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The amplitude scale at cycle (or iteration) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return float(self.gamma**x)

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)

        lrs = [
            base_lr + (max_lr - base_lr) * scale_factor * scale
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True)
        ]
        if self.cycle_momentum:
            for base_m, max_m, group in zip(
                self.base_momentums, self.max_momentums, self.optimizer.param_groups, strict=True
            ):
                _set_momentum(
                    group, max_m - (max_m - base_m) * scale_factor * scale, self.use_beta1
                )
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["_scale_fn_custom"] = _function_state(self._scale_fn_custom)
        return state

    def _load(self, state: dict[str, Any]) -> None:
        attributes = state.pop("_scale_fn_custom")
        super()._load(state)
        if attributes is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(attributes)
        self._init_scale_mode()


class OneCycleLR(LRScheduler):
    """The 1cycle policy (PyTorch: ``OneCycleLR``; Smith & Topin, 2018).

    The lr rises from ``initial_lr = max_lr / div_factor`` to ``max_lr`` over the first
    ``pct_start`` of ``total_steps``, then anneals to ``min_lr = initial_lr /
    final_div_factor``. With ``three_phase=True`` it comes back down to initial_lr
    symmetrically, then anneals to min_lr. Within a phase from a to b at fraction p::

        cos:    b + (a − b)(1 + cos(π p)) / 2
        linear: a + (b − a) p

    Momentum (``momentum`` or ``betas[0]``) moves the opposite way between
    ``max_momentum`` and ``base_momentum``. Call ``step()`` after every batch; stepping
    beyond ``total_steps`` is an error.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        who = type(self).__name__
        self.optimizer = _check_optimizer(optimizer, who)
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch, who)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{who}: expected a float pct_start in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{who}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self._anneal_func_type = anneal_strategy
        self._schedule_phases = _one_cycle_phases(pct_start, self.total_steps, three_phase)

        max_lrs = _positive_rates(_per_group("max_lr", optimizer, max_lr, who), "max_lr", who)
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups, strict=True):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1, _, _ = _cycled_momentum(
                optimizer, base_momentum, max_momentum, last_epoch == -1, who
            )
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step_num} times; the specified number of total "
                f"steps is {self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                        _set_momentum(group, momentum, self.use_beta1)
                    break
                start_step = phase["end_step"]
        return lrs


def _cycle_shape(step_size_up: int, step_size_down: int | None, who: str) -> tuple[float, float]:
    """CyclicLR's cycle length ``up + down`` (down defaults to up) and rising fraction."""
    up = float(_positive_int(step_size_up, "step_size_up", who))
    down = (
        up
        if step_size_down is None
        else float(_positive_int(step_size_down, "step_size_down", who))
    )
    return up + down, up / (up + down)


def _cycled_momentum(
    optimizer: Optimizer,
    base_momentum: float | Sequence[float],
    max_momentum: float | Sequence[float],
    fresh: bool,
    who: str,
) -> tuple[bool, list[float], list[float]]:
    """For a scheduler that cycles the momentum: whether it is ``betas[0]`` (else
    ``momentum``), and the per-group base and max momenta. On a ``fresh`` start (no
    ``last_epoch``) each group starts at its max momentum and records both bounds, as in
    PyTorch."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(
            f"{who}: optimizer {type(optimizer).__name__} has neither momentum nor "
            "betas; use cycle_momentum=False"
        )
    use_beta1 = "betas" in optimizer.defaults
    base_momentums = _per_group("base_momentum", optimizer, base_momentum, who)
    max_momentums = _per_group("max_momentum", optimizer, max_momentum, who)
    if fresh:
        for m_momentum, b_momentum, group in zip(
            max_momentums, base_momentums, optimizer.param_groups, strict=True
        ):
            _set_momentum(group, m_momentum, use_beta1)
            group["max_momentum"] = m_momentum
            group["base_momentum"] = b_momentum
    return use_beta1, base_momentums, max_momentums


def _total_steps(
    total_steps: int | None, epochs: int | None, steps_per_epoch: int | None, who: str
) -> int:
    """OneCycleLR's length: ``total_steps``, or ``epochs · steps_per_epoch``."""
    if total_steps is not None:
        return _positive_int(total_steps, "total_steps", who)
    if epochs is not None and steps_per_epoch is not None:
        epochs = _positive_int(epochs, "epochs", who)
        return epochs * _positive_int(steps_per_epoch, "steps_per_epoch", who)
    raise ValueError(f"{who}: define either total_steps or (epochs and steps_per_epoch)")


def _one_cycle_phases(
    pct_start: float, total_steps: int, three_phase: bool
) -> list[dict[str, Any]]:
    """OneCycleLR's phases: each one's last step and the group entries (lr, momentum)
    it anneals from and to."""
    rise_end = float(pct_start * total_steps) - 1
    rise = _phase(rise_end, "initial_lr", "max_lr", "max_momentum", "base_momentum")
    if not three_phase:
        return [rise, _phase(total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
    return [
        rise,
        _phase(
            float(2 * pct_start * total_steps) - 2,
            "max_lr",
            "initial_lr",
            "base_momentum",
            "max_momentum",
        ),
        _phase(total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
    ]


def _phase(
    end_step: float, start_lr: str, end_lr: str, start_momentum: str, end_momentum: str
) -> dict[str, Any]:
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_momentum,
        "end_momentum": end_momentum,
    }


def _set_momentum(group: dict[str, Any], momentum: float, use_beta1: bool) -> None:
    """Set SGD-style ``momentum`` or Adam-style ``betas[0]``."""
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum
