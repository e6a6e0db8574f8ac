"""The benchmark cases: single layers (forward, forward+backward) and whole training steps.

Each case builds a :class:`Contest`: a refnet callable, its torch twin (built with
:func:`refnet.interop.torch.to_torch`, so both hold the same weights) and a check that
runs once before timing and raises :class:`MismatchError` unless both compute the same
outputs and gradients on the same inputs. Both sides work in float32 on the same arrays.

What each side does per call:

* ``fwd``: the forward pass. torch runs under ``torch.no_grad()`` (no autograd graph),
  refnet under ``refnet.no_grad()`` (its forward computes what a backward would need,
  which is part of its cost, and then keeps none of it).
* ``fwd+bwd``: forward, then backward with a fixed upstream gradient; the input's
  gradient is computed on both sides (torch's input has ``requires_grad``), parameter
  gradients too (refnet adds into ``p.grad``; torch's are reset to ``None`` first, its
  cheapest way).
* training steps: ``zero_grad``, forward, cross-entropy, backward, optimizer step, with
  torch's idiomatic loop. The data needs no gradient: torch's autograd skips the first
  layer's input gradient, and refnet's first parameterised layer is told the same
  (``needs_input_grad = False``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import refnet.nn as nn
import refnet.optim as optim
from benchmarks.timing import Fn
from refnet.examples.fashion_mnist.models import RECIPES, build_model
from refnet.grad_mode import no_grad, set_grad_enabled

# Largest error allowed, relative to the largest magnitude of the torch value: float32
# rounding of sums over up to ~10^5 terms stays far below; a wrong kernel is off by O(1).
TOLERANCE = 1e-4


class MismatchError(AssertionError):
    """refnet and torch disagree: the case would not time the same work on both sides."""


@dataclass
class Contest:
    """What a case times: refnet's callable, torch's (or None) and the one-off check."""

    refnet: Fn
    torch: Fn | None = None
    check: Callable[[], dict[str, float]] | None = None
    # Training steps: what --breakdown needs to time refnet's layers one by one.
    parts: tuple[nn.Sequential, np.ndarray, np.ndarray, optim.Optimizer] | None = None


@dataclass(frozen=True)
class Case:
    """A named benchmark: ``build(torch)`` makes its :class:`Contest` (torch may be None)."""

    name: str
    group: str  # "layer" or "step"
    title: str
    build: Callable[[Any], Contest] = field(repr=False)
    target: float | None = None  # the ratio refnet / torch aimed at (speed, round two)


# ---------------------------------------------------------------------- comparisons


def relative_error(ours: Any, theirs: Any) -> float:
    """``max |ours - theirs| / max |theirs|`` (absolute if theirs is all zero)."""
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        raise MismatchError(f"shapes differ: refnet {a.shape}, torch {b.shape}")
    if a.size == 0:
        return 0.0
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 0 else 1.0)


def compare(errors: dict[str, float], what: str, ours: Any, theirs: Any) -> None:
    """Record the relative error of ``what``; raise :class:`MismatchError` past the tolerance."""
    error = relative_error(ours, theirs)
    errors[what] = error
    if not error <= TOLERANCE:  # also catches NaN
        raise MismatchError(
            f"{what}: refnet and torch differ by {error:.3g} (relative to torch's largest "
            f"value; tolerance {TOLERANCE:g})"
        )


def numpy_of(tensor: Any) -> np.ndarray:
    return np.asarray(tensor.detach().numpy())


# ---------------------------------------------------------------------- single layers


def random_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def layer_contest(module: nn.Module, x: np.ndarray, backward: bool, torch: Any) -> Contest:
    """``module`` on a fixed input ``x``; with ``backward``, then ∂L/∂x and ∂L/∂θ."""
    with no_grad():
        y = module(x)
    g = random_input(y.shape, seed=1)

    def ours() -> None:
        if backward:
            module(x)
            module.backward(g)
        else:
            with no_grad():
                module(x)

    if torch is None:
        return Contest(ours)

    from refnet.interop.torch import to_torch

    theirs = to_torch(module)
    tx = torch.from_numpy(x.copy()).requires_grad_(backward)
    tg = torch.from_numpy(g.copy())

    def torchs() -> None:
        if backward:
            tx.grad = None
            theirs.zero_grad(set_to_none=True)
            theirs(tx).backward(tg)
        else:
            with torch.no_grad():
                theirs(tx)

    def check() -> dict[str, float]:
        errors: dict[str, float] = {}
        module.zero_grad()
        ty = theirs(tx)
        with set_grad_enabled(backward):
            compare(errors, "output", module(x), numpy_of(ty))
        if backward:
            tx.grad = None
            theirs.zero_grad(set_to_none=True)
            ty.backward(tg)
            compare(errors, "input gradient", module.backward(g), numpy_of(tx.grad))
            for (name, p), tp in zip(module.named_parameters(), theirs.parameters(), strict=True):
                compare(errors, f"{name} gradient", p.grad, numpy_of(tp.grad))
        return errors

    return Contest(ours, torchs, check)


def first_output_contest(module: nn.Module, x: np.ndarray, torch: Any, copies: int = 1) -> Contest:
    """A layer with several outputs, called on ``copies`` times ``x`` (a recurrent layer:
    once; self-attention ``mha(x, x, x)``: three times): forward, then backward from the
    first output only (the others unused: ``None`` on refnet's side, not in torch's
    graph). refnet's gradients of the copies are added, as torch's autograd does inside."""
    inputs = (x,) * copies
    with no_grad():
        y = module(*inputs)[0]
    g = random_input(y.shape, seed=1)

    def ours() -> np.ndarray:
        module(*inputs)
        return _summed(module.backward(g, None))

    if torch is None:
        return Contest(ours)

    from refnet.interop.torch import to_torch

    theirs = to_torch(module)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tg = torch.from_numpy(g.copy())

    def torchs() -> None:
        tx.grad = None
        theirs.zero_grad(set_to_none=True)
        theirs(*(tx,) * copies)[0].backward(tg)

    def check() -> dict[str, float]:
        errors: dict[str, float] = {}
        module.zero_grad()
        tx.grad = None
        theirs.zero_grad(set_to_none=True)
        ty = theirs(*(tx,) * copies)[0]
        ty.backward(tg)
        compare(errors, "output", module(*inputs)[0], numpy_of(ty))
        compare(errors, "input gradient", _summed(module.backward(g, None)), numpy_of(tx.grad))
        their_params = dict(theirs.named_parameters())
        for name, p in module.named_parameters():
            compare(errors, f"{name} gradient", p.grad, numpy_of(their_params[name].grad))
        return errors

    return Contest(ours, torchs, check)


def _summed(grads: np.ndarray | tuple[np.ndarray, ...]) -> np.ndarray:
    """One input's gradient, or the sum of the gradients of several copies of it."""
    return sum(grads[1:], grads[0]) if isinstance(grads, tuple) else grads


def loss_contest(make: Callable[[], nn.Module], backward: bool, torch: Any) -> Contest:
    """Cross-entropy of 128x10 logits against integer labels."""
    criterion = make()
    x = random_input((128, 10)) * 3
    labels = np.random.default_rng(2).integers(0, 10, 128)

    def ours() -> None:
        if backward:
            criterion(x, labels)
            criterion.backward()
        else:
            with no_grad():
                criterion(x, labels)

    if torch is None:
        return Contest(ours)
    their_criterion = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(x.copy()).requires_grad_(backward)
    tlabels = torch.from_numpy(labels)

    def torchs() -> None:
        if backward:
            tx.grad = None
            their_criterion(tx, tlabels).backward()
        else:
            with torch.no_grad():
                their_criterion(tx, tlabels)

    def check() -> dict[str, float]:
        errors: dict[str, float] = {}
        loss = their_criterion(tx, tlabels)
        with set_grad_enabled(backward):
            compare(errors, "loss", criterion(x, labels), float(loss.detach()))
        if backward:
            tx.grad = None
            loss.backward()
            compare(errors, "input gradient", criterion.backward(), numpy_of(tx.grad))
        return errors

    return Contest(ours, torchs, check)


# ---------------------------------------------------------------------- training steps


def skip_data_gradient(model: nn.Sequential) -> None:
    """Tell the first layer with parameters that nobody needs its input's gradient.

    torch decides this from ``input.requires_grad`` (False for data); refnet layers that
    can skip it have a ``needs_input_grad`` attribute.
    """
    for layer in model:
        if any(True for _ in layer.parameters()):
            if hasattr(layer, "needs_input_grad"):
                layer.needs_input_grad = False
            return


def _dropouts(model: Any) -> Iterator[Any]:
    return (m for m in model.modules() if type(m).__name__ in ("Dropout", "Dropout2d"))


def step_contest(model_name: str, batch: int, torch: Any) -> Contest:
    """One training step of the FashionMNIST example's ``model_name`` with its optimizer."""
    recipe = RECIPES[model_name]
    model = build_model(model_name, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    theirs = None
    if torch is not None:
        from refnet.interop.torch import to_torch

        theirs = to_torch(model)  # before any step: same initial weights
    skip_data_gradient(model)
    criterion = nn.CrossEntropyLoss()
    opt: optim.Optimizer
    if recipe.optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    else:
        opt = optim.Adam(model.parameters(), lr=recipe.lr)

    def ours() -> None:
        opt.zero_grad()
        criterion(model(x), labels)
        model.backward(criterion.backward())
        opt.step()

    parts = (model, x, labels, opt)
    if torch is None or theirs is None:
        return Contest(ours, parts=parts)
    tx, tlabels = torch.from_numpy(x.copy()), torch.from_numpy(labels)
    their_criterion = torch.nn.CrossEntropyLoss()
    their_opt: Any
    if recipe.optimizer == "sgd":
        their_opt = torch.optim.SGD(theirs.parameters(), lr=recipe.lr, momentum=recipe.momentum)
    else:
        their_opt = torch.optim.Adam(theirs.parameters(), lr=recipe.lr)

    def torchs() -> None:
        their_opt.zero_grad()
        loss = their_criterion(theirs(tx), tlabels)
        loss.backward()
        their_opt.step()

    def check() -> dict[str, float]:
        """Loss and every gradient of one step from the same weights; then the update,
        from the same gradients (refnet's copied into torch, so Adam's first step, which
        moves each weight by ±lr according to the gradient's sign, is compared on equal
        terms). Dropout is off for the check only (its masks come from different random
        generators); it is on while timing, on both sides."""
        errors: dict[str, float] = {}
        for m in [*_dropouts(model), *_dropouts(theirs)]:
            m.train(False)
        try:
            opt.zero_grad()
            loss = criterion(model(x), labels)
            model.backward(criterion.backward())
            their_opt.zero_grad()
            their_loss = their_criterion(theirs(tx), tlabels)
            their_loss.backward()
        finally:
            for m in [*_dropouts(model), *_dropouts(theirs)]:
                m.train(True)
        compare(errors, "loss", loss, float(their_loss.detach()))
        pairs = list(zip(model.named_parameters(), theirs.parameters(), strict=True))
        for (name, p), tp in pairs:
            assert tp.grad is not None
            compare(errors, f"{name} gradient", p.grad, numpy_of(tp.grad))
            tp.grad.copy_(torch.from_numpy(p.grad.copy()))
        opt.step()
        their_opt.step()
        for (name, p), tp in pairs:
            compare(errors, f"{name} after the step", p.data, numpy_of(tp))
        return errors

    return Contest(ours, torchs, check, parts)


# ---------------------------------------------------------------------- the list


def _layer(
    name: str,
    title: str,
    make: Callable[[], nn.Module],
    shape: tuple[int, ...],
    target: tuple[float | None, float | None] = (None, None),
) -> list[Case]:
    """Two cases for one layer: forward, and forward+backward."""

    def builder(backward: bool) -> Callable[[Any], Contest]:
        return lambda torch: layer_contest(make(), random_input(shape), backward, torch)

    return [
        Case(f"{name}-fwd", "layer", f"{title}, forward", builder(False), target[0]),
        Case(f"{name}-fwdbwd", "layer", f"{title}, forward+backward", builder(True), target[1]),
    ]


def _sequence(
    name: str, title: str, make: Callable[[], nn.Module], target: float | None = None
) -> Case:
    """Forward+backward of a recurrent layer over 64 steps of a batch of 32."""
    return Case(
        f"{name}-fwdbwd",
        "layer",
        f"{title}, forward+backward",
        lambda torch: first_output_contest(make(), random_input((64, 32, 128)), torch),
        target,
    )


def _loss(name: str, title: str) -> list[Case]:
    """Cross-entropy forward, and forward+backward."""

    def builder(backward: bool) -> Callable[[Any], Contest]:
        return lambda torch: loss_contest(nn.CrossEntropyLoss, backward, torch)

    return [
        Case(f"{name}-fwd", "layer", f"{title}, forward", builder(False)),
        Case(f"{name}-fwdbwd", "layer", f"{title}, forward+backward", builder(True)),
    ]


def all_cases() -> list[Case]:
    """Every case, in the order of the report."""
    return [
        *_layer(
            "linear",
            "Linear(784→256), batch 128",
            lambda: nn.Linear(784, 256, generator=0),
            (128, 784),
        ),
        *_layer(
            "conv2d",
            "Conv2d(32→64, k3, pad 1), 128x32x14x14",
            lambda: nn.Conv2d(32, 64, 3, padding=1, generator=0),
            (128, 32, 14, 14),
            (None, 1.4),
        ),
        *_layer(
            "maxpool2d",
            "MaxPool2d(2), 128x32x28x28",
            lambda: nn.MaxPool2d(2),
            (128, 32, 28, 28),
            (None, 1.0),
        ),
        *_layer(
            "batchnorm2d",
            "BatchNorm2d(32) train, 128x32x28x28",
            lambda: nn.BatchNorm2d(32),
            (128, 32, 28, 28),
            (None, 1.4),
        ),
        *_layer("relu", "ReLU, 128x32x28x28", nn.ReLU, (128, 32, 28, 28)),
        *_loss("cross-entropy", "CrossEntropyLoss, 128x10"),
        *_layer(
            "log-softmax", "LogSoftmax(dim=1), 128x10", lambda: nn.LogSoftmax(dim=1), (128, 10)
        ),
        _sequence(
            "lstm",
            "LSTM(128, 256, num_layers=2), length 64 x batch 32",
            lambda: nn.LSTM(128, 256, num_layers=2, generator=0),
            1.5,
        ),
        _sequence(
            "gru",
            "GRU(128, 256, num_layers=2), length 64 x batch 32",
            lambda: nn.GRU(128, 256, num_layers=2, generator=0),
            1.5,
        ),
        Case(
            "mha-fwdbwd",
            "layer",
            "MultiheadAttention(128, 4) self-attention, length 64 x batch 12, forward+backward",
            lambda torch: first_output_contest(
                nn.MultiheadAttention(128, 4, generator=0), random_input((64, 12, 128)), torch, 3
            ),
            1.0,
        ),
        *_layer(
            "encoder-layer",
            "TransformerEncoderLayer(128, 4, 512, pre-norm, gelu), batch 12 x length 64",
            lambda: nn.TransformerEncoderLayer(
                128,
                4,
                512,
                dropout=0.0,
                batch_first=True,
                norm_first=True,
                activation="gelu",
                generator=0,
            ),
            (12, 64, 128),
            (None, 1.0),
        ),
        Case(
            "step-mlp",
            "step",
            "training step, MLP 784-256-128-10, batch 128, Adam",
            lambda torch: step_contest("mlp", 128, torch),
            0.75,
        ),
        Case(
            "step-lenet",
            "step",
            "training step, lenet, batch 64, SGD momentum",
            lambda torch: step_contest("lenet", 64, torch),
            0.85,
        ),
        Case(
            "step-cnn",
            "step",
            "training step, cnn, batch 128, Adam",
            lambda torch: step_contest("cnn", 128, torch),
            1.0,
        ),
    ]


def select(cases: list[Case], patterns: str | None) -> list[Case]:
    """The cases matching comma-separated names, globs (``conv*``) or groups (``step``)."""
    if not patterns:
        return cases
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [
        c for c in cases if any(fnmatch.fnmatchcase(c.name, p) or c.group == p for p in wanted)
    ]
    unknown = [
        p for p in wanted if not any(fnmatch.fnmatchcase(c.name, p) or c.group == p for c in cases)
    ]
    if unknown:
        names = ", ".join(c.name for c in cases)
        raise ValueError(f"no case matches {', '.join(unknown)}; the cases are: {names}")
    return chosen
