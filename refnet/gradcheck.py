"""Numerical gradient checking: prove a hand-written backward against finite differences.

A module's ``backward`` claims to compute ∂L/∂x and ∂L/∂p. We can test the claim without
trusting any of it. Project the output to a scalar with a random upstream gradient ``G``,

    L(x, p) = Σ forward(x; p) · G,

so that ``backward(G)`` must return exactly ∂L/∂x and accumulate ∂L/∂p. Then estimate
each partial derivative by a central difference, one element at a time:

    ∂L/∂x_i ≈ (L(x + ε e_i) - L(x - ε e_i)) / 2ε.

Its error is O(ε²) (the ε¹ terms of the two Taylor expansions cancel) plus rounding of
order ``u·|L|/ε`` (u ≈ 1.1e-16 in float64), so with ε = 1e-6 agreement to about 1e-8
relative is expected on smooth functions; far away from kinks (ReLU at 0, ties under a
max) where the function is not differentiable.

An element passes when ``|a - n| ≤ atol + rtol·(|a| + |n|)``: a relative test, with an
absolute floor for gradients that are (nearly) zero. Work in float64: in float32 the
rounding term alone is ~1e-2.

>>> import numpy as np, refnet.nn as nn
>>> from refnet.gradcheck import check_module
>>> layer = nn.Linear(3, 2, generator=0).double()
>>> report = check_module(layer, np.random.default_rng(0).normal(size=(4, 3)))
>>> report.passed
True
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refnet._typing import Array, Seed
from refnet.grad_mode import no_grad
from refnet.nn.module import Module
from refnet.random import as_generator

DEFAULT_EPS = 1e-6
#: How many mismatched elements a report lists per tensor (the largest errors).
SHOWN_MISMATCHES = 5
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9


class GradcheckError(AssertionError):
    """A backward disagreed with numerical differentiation (the message says where)."""


@dataclass
class Mismatch:
    """One element whose analytic and numerical derivatives disagree."""

    tensor: str
    index: tuple[int, ...]
    analytic: float
    numerical: float

    @property
    def relative_error(self) -> float:
        """``|a - n| / (|a| + |n|)``, the analytic value a against the numerical n."""
        return abs(self.analytic - self.numerical) / max(
            abs(self.analytic) + abs(self.numerical), 1e-300
        )

    def __str__(self) -> str:
        return (
            f"{self.tensor}{list(self.index)}: analytic {self.analytic:.10g}, "
            f"numerical {self.numerical:.10g}, "
            f"abs error {abs(self.analytic - self.numerical):.3g}, "
            f"relative error {self.relative_error:.3g}"
        )


@dataclass
class TensorReport:
    """How one gradient (the input's or a parameter's) compared."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_relative_error: float
    mismatches: list[Mismatch] = field(default_factory=list)


@dataclass
class GradcheckReport:
    """The result of a gradient check: one entry per checked tensor.

    ``outputs`` describes the module's outputs and which of them the projected loss used.
    """

    tensors: list[TensorReport]
    rtol: float
    atol: float
    outputs: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every checked tensor agreed within the tolerances."""
        return all(not t.mismatches for t in self.tensors)

    def __str__(self) -> str:
        lines = [f"gradient check (rtol={self.rtol:g}, atol={self.atol:g}):"]
        if len(self.outputs) > 1:
            lines.append("  outputs: " + "; ".join(self.outputs))
        for t in self.tensors:
            status = "ok" if not t.mismatches else f"{len(t.mismatches)} mismatched element(s)"
            lines.append(
                f"  {t.name} {t.shape}: max abs error {t.max_abs_error:.3g}, "
                f"max relative error {t.max_relative_error:.3g}: {status}"
            )
            worst = sorted(t.mismatches, key=lambda m: -abs(m.analytic - m.numerical))
            lines.extend(f"    {m}" for m in worst[:SHOWN_MISMATCHES])
            if len(worst) > SHOWN_MISMATCHES:
                lines.append(f"    ... the {SHOWN_MISMATCHES} largest shown, of {len(worst)}")
        return "\n".join(lines)


def numerical_gradient(f: Callable[[], float | Array], x: Array, eps: float = DEFAULT_EPS) -> Array:
    """∂f/∂x by central differences, where ``f()`` reads ``x`` (an array it closes over).

    Each element of ``x`` is perturbed in place by ±eps and restored, so ``f`` sees the
    change through whatever references it holds (a Parameter's ``data``, an input).

    ``f`` may return the scalar ``L`` or an array of *terms* whose sum is ``L``. Terms
    are better: the difference ``L(x + ε) - L(x - ε)`` is then summed exactly
    (``math.fsum``), so terms the perturbation did not change cancel exactly. With
    scalars, the rounding of ``L`` itself (``u·|L|``, u ≈ 1.1e-16) is divided by 2ε and
    limits the absolute accuracy to about ``1e-10·|L|``.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical gradients need float64 arrays, got {x.dtype}")
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x) and x.size > 0:
        raise ValueError(
            "numerical_gradient needs an array whose reshape is a view (a contiguous array)"
        )
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = f()
        flat[i] = original - eps
        minus = f()
        flat[i] = original
        grad.reshape(-1)[i] = _exact_difference(plus, minus) / (2 * eps)
    return grad


def _exact_difference(plus: float | Array, minus: float | Array) -> float:
    """``Σ plus - Σ minus``, with a single rounding at the end (``math.fsum``)."""
    terms = np.concatenate([np.ravel(plus), -np.ravel(minus)])
    return math.fsum(terms.tolist())


def compare(
    name: str,
    analytic: Array,
    numerical: Array,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
) -> TensorReport:
    """Compare two gradients elementwise with ``|a - n| ≤ atol + rtol(|a| + |n|)``."""
    if analytic.shape != numerical.shape:
        raise GradcheckError(
            f"{name}: the analytic gradient has shape {analytic.shape}, expected {numerical.shape}"
        )
    error = np.abs(analytic - numerical)
    scale = np.abs(analytic) + np.abs(numerical)
    bad = ~(error <= atol + rtol * scale)
    mismatches = [
        Mismatch(
            name, tuple(int(i) for i in index), float(analytic[index]), float(numerical[index])
        )
        for index in (np.unravel_index(i, bad.shape) for i in np.flatnonzero(bad))
    ]
    relative = np.where(scale > 0, error / np.where(scale > 0, scale, 1), 0.0)
    return TensorReport(
        name,
        tuple(analytic.shape),
        float(error.max(initial=0.0)),
        float(relative.max(initial=0.0)),
        mismatches,
    )


def _require_float64(what: str, array: Array) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        dtype = getattr(array, "dtype", type(array).__name__)
        raise TypeError(
            f"gradient checks run in float64: {what} has dtype {dtype} "
            "(use .astype(np.float64) / module.double())"
        )


def _finish(report: GradcheckReport, raise_on_failure: bool) -> GradcheckReport:
    if raise_on_failure and not report.passed:
        raise GradcheckError(str(report))
    return report


Structure = Any  # an array, None, or a (nested) tuple of them: a module's inputs or outputs
Path = tuple[int, ...]


def check_module(
    module: Module,
    x: Array | Sequence[Any],
    *,
    grad_output: Structure = None,
    forward_kwargs: dict[str, Any] | None = None,
    unused: Sequence[Path] = (),
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    generator: Seed = 0,
    reset: Callable[[], None] | None = None,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check ``module.backward`` for every differentiable input and every parameter.

    ``x`` is the input, or a tuple of inputs for a module with several
    (``check_module(mha, (q, k, v), forward_kwargs={"attn_mask": m})``); the module is
    called as ``module(*inputs, **forward_kwargs)``. Floating-point arrays among the
    inputs (also inside a tuple input such as ``(h_0, c_0)``) are differentiated; integer
    and boolean arrays (indices, masks) and ``None`` are not, and have no gradient slot.

    The output may be one array or a (nested) tuple of arrays and ``None``. Each array
    output gets a random upstream gradient drawn from ``generator`` (or the matching part
    of ``grad_output``), and the loss is their sum,

        L = Σ_outputs Σ output · G,

    so a missing contribution of any output shows. ``unused`` lists the index paths of
    outputs the loss does not use (``[(1, 1)]`` for an LSTM's ``c_n``): those get ``None``.
    ``backward`` is called with one gradient per output (``module.backward(*grads)``, or
    ``backward(g)`` for one output) and must return one gradient per differentiable input
    (one array when there is one), each of its input's structure.

    The module's gradients are zeroed first. ``reset``, if given, is called before every
    forward: use it to make a random module deterministic (re-seed a dropout mask). The
    numerical forwards run under ``refnet.no_grad()``, so they leave no caches behind.

    Also checks the contract's promises that ``backward`` leaves its gradients and the
    inputs unchanged. Raises :class:`GradcheckError` with a report that names each input,
    parameter and output (or returns the report, with ``raise_on_failure=False``).
    """
    single = isinstance(x, np.ndarray)
    inputs = _copy_structure((x,) if single else tuple(x))
    kwargs = dict(forward_kwargs or {})
    names = _input_names(module, len(inputs), single)
    slots = [i for i, value in enumerate(inputs) if _float_leaves(value, ())]
    leaves = {
        _leaf_name(names[i], path): array
        for i in slots
        for path, array in _float_leaves(inputs[i], ())
    }
    for name, array in leaves.items():
        _require_float64(name, array)
    for name, param in module.named_parameters():
        _require_float64(f"parameter {name!r}", param.data)

    def forward() -> Structure:
        if reset is not None:
            reset()
        return module(*inputs, **kwargs)

    with no_grad():
        out = forward()
    G = _upstream(out, grad_output, unused, as_generator(generator))

    def loss() -> Array:
        with no_grad():
            return _projection(forward(), G)

    numerical = {name: numerical_gradient(loss, array, eps) for name, array in leaves.items()}
    for name, param in module.named_parameters():
        numerical[name] = numerical_gradient(loss, param.data, eps)

    module.zero_grad()
    inputs_before, G_before = _copy_structure(inputs), _copy_structure(G)
    forward()
    returned = module.backward(*G) if isinstance(G, tuple) else module.backward(G)
    _check_unchanged_structure(inputs, inputs_before, "the input")
    _check_unchanged_structure(G, G_before, "grad_output")
    analytic = _returned_gradients(returned, inputs, slots, names)
    for name, param in module.named_parameters():
        analytic[name] = param.grad.copy()

    report = GradcheckReport(
        [compare(k, analytic[k], numerical[k], rtol, atol) for k in numerical],
        rtol,
        atol,
        outputs=_describe_outputs(out, G),
    )
    return _finish(report, raise_on_failure)


def _copy_structure(value: Structure) -> Structure:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, tuple | list):
        return tuple(_copy_structure(v) for v in value)
    return value


def _float_leaves(value: Structure, path: Path) -> list[tuple[Path, Array]]:
    """The floating-point arrays in ``value`` (an array or nested tuples), with their paths."""
    if isinstance(value, np.ndarray):
        return [(path, value)] if np.issubdtype(value.dtype, np.floating) else []
    if isinstance(value, tuple | list):
        return [leaf for i, v in enumerate(value) for leaf in _float_leaves(v, (*path, i))]
    return []


def _input_names(module: Module, count: int, single: bool) -> list[str]:
    """``forward``'s parameter names (``query``, ``key``, ...), or ``input`` for one input."""
    if single:
        return ["input"]
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return [positional[i] if i < len(positional) else f"input {i}" for i in range(count)]


def _leaf_name(name: str, path: Path) -> str:
    return name + "".join(f"[{i}]" for i in path)


def _upstream(
    out: Structure, given: Structure, unused: Sequence[Path], rng: np.random.Generator
) -> Structure:
    """One upstream gradient per floating output: ``given``'s, or standard normal draws."""
    skip = {tuple(path) for path in unused}

    def build(value: Structure, supplied: Structure, path: Path) -> Structure:
        if path in skip or value is None:
            return None
        if isinstance(value, tuple | list):
            parts = supplied if isinstance(supplied, tuple | list) else (None,) * len(value)
            if len(parts) != len(value):
                raise ValueError(
                    f"grad_output{_leaf_name('', path)} has {len(parts)} parts, "
                    f"the output {len(value)}"
                )
            return tuple(
                build(v, s, (*path, i)) for i, (v, s) in enumerate(zip(value, parts, strict=True))
            )
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.floating):
            return None
        if supplied is None:
            return rng.standard_normal(array.shape)
        grad = np.array(supplied, dtype=np.float64)
        if grad.shape != array.shape:
            raise ValueError(
                f"grad_output{_leaf_name('', path)} has shape {grad.shape}, "
                f"the output has {array.shape}"
            )
        return grad

    return build(out, given, ())


def _projection(out: Structure, G: Structure) -> Array:
    """The terms of ``L = Σ output · G`` over every output that has a gradient."""
    terms = [np.ravel(np.asarray(o) * g) for o, g in _pairs(out, G)]
    return np.concatenate(terms) if terms else np.zeros(0)


def _pairs(out: Structure, G: Structure) -> Iterator[tuple[Any, Array]]:
    if G is None:
        return
    if isinstance(G, tuple):
        for o, g in zip(out, G, strict=True):
            yield from _pairs(o, g)
    else:
        yield out, G


def _check_unchanged_structure(after: Structure, before: Structure, what: str) -> None:
    if isinstance(after, np.ndarray):
        _check_unchanged(after, before, what)
    elif isinstance(after, tuple):
        for a, b in zip(after, before, strict=True):
            _check_unchanged_structure(a, b, what)


def _returned_gradients(
    returned: Structure, inputs: tuple[Any, ...], slots: list[int], names: list[str]
) -> dict[str, Array]:
    """Match ``backward``'s return value to the differentiable inputs, by name."""
    if not slots:  # only indices (Embedding): no input gradient to check
        return {}
    per_slot = [returned] if len(slots) == 1 else returned
    if len(slots) > 1 and (not isinstance(returned, tuple | list) or len(returned) != len(slots)):
        raise GradcheckError(
            f"backward returned {_count(returned)} gradient(s) for the {len(slots)} differentiable "
            f"inputs ({', '.join(names[i] for i in slots)}): one per input, in forward's order"
        )
    analytic: dict[str, Array] = {}
    for i, grad in zip(slots, per_slot, strict=True):
        for path, array in _float_leaves(inputs[i], ()):
            name = _leaf_name(names[i], path)
            part = _part(grad, path)
            if not isinstance(part, np.ndarray):
                raise GradcheckError(
                    f"{name}: backward returned {type(part).__name__} where the gradient of this "
                    f"input (shape {array.shape}) belongs"
                )
            analytic[name] = np.asarray(part)
    return analytic


def _count(value: Structure) -> int:
    return len(value) if isinstance(value, tuple | list) else 1


def _part(value: Structure, path: Path) -> Structure:
    for i in path:
        if not isinstance(value, tuple | list) or i >= len(value):
            return None
        value = value[i]
    return value


def _describe_outputs(out: Structure, G: Structure) -> list[str]:
    """One line per output: its name, shape and whether the loss used it."""
    single = not isinstance(out, tuple)
    lines = []

    def walk(value: Structure, grad: Structure, path: Path) -> None:
        if isinstance(value, tuple | list):
            for i, v in enumerate(value):
                walk(v, grad[i] if isinstance(grad, tuple) else None, (*path, i))
            return
        name = _leaf_name("output", () if single else path)
        if value is None:
            lines.append(f"{name}: None")
        else:
            used = "random upstream gradient" if grad is not None else "unused (None)"
            lines.append(f"{name} {tuple(np.shape(value))}: {used}")

    walk(out, G, ())
    return lines


def _is_integer_array(x: object) -> bool:
    return isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.integer)


def _check_unchanged(after: Array, before: Array, what: str) -> None:
    if not np.array_equal(after, before, equal_nan=True):
        raise GradcheckError(f"forward/backward modified {what} in place")


def check_loss(
    criterion: Module,
    inputs: Array | Sequence[Array],
    targets: Sequence[Any] = (),
    *,
    grad_output: Array | None = None,
    eps: float = DEFAULT_EPS,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    generator: Seed = 0,
    raise_on_failure: bool = True,
) -> GradcheckReport:
    """Check a loss's ``backward`` with respect to each of its inputs, in float64.

    The loss is called as ``criterion(*inputs, *targets)``; only ``inputs`` are
    differentiated. For a scalar reduction (``'mean'``, ``'sum'``) ``L`` is the loss and
    ``criterion.backward()`` must return ∂L/∂input (a tuple, one per input, when there
    are several). For ``reduction='none'``, ``L = Σ loss · G`` with a random ``G`` (or
    ``grad_output``) passed to ``criterion.backward(G)``.

    A scalar ``L`` carries its own rounding, ``u·|L|`` (u ≈ 1.1e-16), into every central
    difference, which limits the numerical derivative to about ``1e-10·|L|`` absolute;
    so for scalar reductions ``atol`` is scaled by ``1 + |L|``. With ``'none'`` the terms
    are differenced exactly (see :func:`numerical_gradient`) and ``atol`` stays.
    """
    several = not isinstance(inputs, np.ndarray)
    given: list[Array] = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    for i, a in enumerate(given):
        _require_float64(f"input {i}", a)
    arrays = [a.copy() for a in given]

    value = criterion(*arrays, *targets)
    if not isinstance(value, np.ndarray):
        atol *= 1 + abs(float(value))
    G: Array | None = None
    if isinstance(value, np.ndarray):
        random = as_generator(generator).standard_normal(value.shape)
        G = np.asarray(random if grad_output is None else grad_output, dtype=np.float64)

    def loss() -> float | Array:
        out = criterion(*arrays, *targets)
        return np.asarray(out) * G if G is not None else float(out)

    numerical = [numerical_gradient(loss, a, eps) for a in arrays]
    criterion(*arrays, *targets)
    before = [a.copy() for a in arrays]
    grads = criterion.backward(G) if G is not None else criterion.backward()
    for i, (a, b) in enumerate(zip(arrays, before, strict=True)):
        _check_unchanged(a, b, f"input {i}")
    analytic = list(grads) if several else [grads]
    if len(analytic) != len(arrays):
        raise GradcheckError(
            f"backward returned {len(analytic)} gradient(s) for {len(arrays)} input(s)"
        )
    names = [f"input {i}" for i in range(len(arrays))] if several else ["input"]
    reports = [
        compare(n, np.asarray(a), num, rtol, atol)
        for n, a, num in zip(names, analytic, numerical, strict=True)
    ]
    return _finish(GradcheckReport(reports, rtol, atol), raise_on_failure)
