"""``LBFGS``: limited-memory BFGS with an optional strong-Wolfe line search (Nocedal, 1980).

A quasi-Newton method: from the last ``history_size`` steps s_k and gradient changes y_k it
builds an approximation of the inverse Hessian, applied to the gradient by the two-loop
recursion without ever forming a matrix. Unlike the other optimizers, one ``step(closure)``
runs up to ``max_iter`` iterations and calls the closure many times (at least once per
iteration), so it suits full-batch problems: a small model, a curve fit, a style transfer.
The line search is PyTorch's (``torch/optim/lbfgs.py``, itself a port of minFunc's
``lswolfe``), transcribed so the two follow the same trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from refnet._typing import Array
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range

Evaluate = Callable[[float, Array], tuple[float, Array]]
"""``(t, d) -> (f(x + t d), ∇f(x + t d))``, leaving the parameters at x."""


def cubic_minimum(
    x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:  # fmt: skip
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2,
    clamped to ``bounds`` (default: between the two points); their midpoint if the cubic
    has no minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


@dataclass
class _Point:
    """A trial step length t with f, ∇f and the directional derivative ∇f·d there."""

    t: float
    f: float
    g: Array
    gtd: float


def strong_wolfe(
    evaluate: Evaluate, t: float, d: Array, start: _Point, max_ls: int = 25,
    c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
) -> tuple[_Point, int]:  # fmt: skip
    """A step length t along d satisfying the strong Wolfe conditions,

        f(x + t d) ≤ f(x) + c1 t ∇f·d          (sufficient decrease, Armijo)
        |∇f(x + t d)·d| ≤ c2 |∇f(x)·d|          (the slope has flattened enough),

    found by bracketing (grow t by cubic extrapolation until an interval must contain
    such a point) and then zooming (cubic interpolation inside the bracket). Returns the
    point and the number of evaluations. ``start`` is t = 0.
    """
    new = _evaluate(evaluate, t, d)
    evals = 1
    prev = _Point(0.0, start.f, start.g, start.gtd)
    bracket: list[_Point] | None = None
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if new.f > start.f + c1 * new.t * start.gtd or (ls_iter > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if abs(new.gtd) <= -c2 * start.gtd:
            bracket, done = [new], True
            break
        if new.gtd >= 0:
            bracket = [prev, new]
            break
        step = cubic_minimum(
            prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
            bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10),
        )  # fmt: skip
        prev, new = new, _evaluate(evaluate, step, d)
        evals += 1
        ls_iter += 1
    if ls_iter == max_ls or bracket is None:
        bracket = [start, new]
    if done:
        return bracket[0], evals
    point, zoom_evals = _zoom(
        evaluate, d, start, bracket, max_ls - ls_iter, c1, c2, tolerance_change
    )
    return point, evals + zoom_evals


def _zoom(
    evaluate: Evaluate, d: Array, start: _Point, bracket: list[_Point], budget: int,
    c1: float, c2: float, tolerance_change: float,
) -> tuple[_Point, int]:  # fmt: skip
    """Shrink ``bracket`` (two points) around a strong-Wolfe point; PyTorch's zoom phase."""
    d_norm = float(np.max(np.abs(d)))
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    insufficient_progress = False
    evals = 0
    while evals < budget:
        a, b = bracket[0].t, bracket[1].t
        if abs(b - a) * d_norm < tolerance_change:
            break
        t = cubic_minimum(a, bracket[0].f, bracket[0].gtd, b, bracket[1].f, bracket[1].gtd)
        # Too close to an end of the bracket: move it 10% of the bracket inside, unless
        # the previous trial was not already there.
        lo_t, hi_t = min(a, b), max(a, b)
        margin = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < margin:
            if insufficient_progress or t >= hi_t or t <= lo_t:
                t = hi_t - margin if abs(t - hi_t) < abs(t - lo_t) else lo_t + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False

        new = _evaluate(evaluate, t, d)
        evals += 1
        if new.f > start.f + c1 * t * start.gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
            continue
        if abs(new.gtd) <= -c2 * start.gtd:
            bracket[low] = new
            break
        if new.gtd * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
    return bracket[low], evals


def _evaluate(evaluate: Evaluate, t: float, d: Array) -> _Point:
    f, g = evaluate(t, d)
    return _Point(t, f, g, float(g @ d))


class LBFGS(Optimizer):
    r"""L-BFGS (PyTorch: ``torch.optim.LBFGS``); ``step(closure)`` takes a closure that
    zeroes the gradients, runs forward and backward, and returns the loss::

        def closure():
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            model.backward(criterion.backward())
            return loss

        optimizer.step(closure)

    Each iteration k, with the flattened gradient g_k::

        d_k = −H_k g_k                  (two-loop recursion over the kept (s_i, y_i);
                                         d_1 = −g_1, H = (sᵀy / yᵀy) I initially)
        t_k = lr                        (the first iteration: min(1, 1/‖g_1‖₁)·lr)
        t_k = strong_wolfe(...)         if line_search_fn='strong_wolfe'
        x_{k+1} = x_k + t_k d_k
        s_k = t_k d_k, y_k = g_{k+1} − g_k, kept when yᵀs > 10⁻¹⁰ (curvature positive)

    until ``max_iter`` iterations or ``max_eval`` closure calls, or ‖g‖_∞ ≤
    ``tolerance_grad``, or a step or a change of loss below ``tolerance_change``. The state
    (directions, history, counters) lives under the first parameter, as in PyTorch, so a
    later ``step`` continues the same approximation. One parameter group only. Defaults
    are PyTorch's: ``lr=1``, ``max_iter=20``, ``max_eval=max_iter·5/4``,
    ``history_size=100``, ``line_search_fn=None``.
    """

    _scalar_state = frozenset({"func_evals", "n_iter", "t", "H_diag", "prev_loss"})
    _flat_state = frozenset({"d", "prev_flat_grad"})
    _history_state = frozenset({"old_dirs", "old_stps"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_iter * 5 // 4 if max_eval is None else max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError(
                "LBFGS doesn't support per-parameter options (parameter groups): it sees all "
                "its parameters as one vector"
            )
        super().add_param_group(param_group)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        for key in ("max_iter", "max_eval", "history_size"):
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}{key} must be a positive integer, got {value!r}")
        _check_range(options, "tolerance_grad", "tolerance_grad", where)
        _check_range(options, "tolerance_change", "tolerance_change", where)
        if options["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"{where}line_search_fn must be None or 'strong_wolfe', got "
                f"{options['line_search_fn']!r}"
            )

    # ------------------------------------------------------------------ flat views

    def _params(self) -> list[Any]:
        return list(self._trainable(self.param_groups[0]))

    def _flat_grad(self) -> Array:
        return np.concatenate([p.grad.ravel() for p in self._params()])

    def _add_to_params(self, t: float, d: Array) -> None:
        offset = 0
        for p in self._params():
            p.data += t * d[offset : offset + p.data.size].reshape(p.data.shape)
            offset += p.data.size

    def _evaluator(self, closure: Callable[[], float]) -> Evaluate:
        """f and ∇f at x + t d for the line search, the parameters left at x."""

        def evaluate(t: float, d: Array) -> tuple[float, Array]:
            saved = [p.data.copy() for p in self._params()]
            self._add_to_params(t, d)
            loss = float(closure())
            grad = self._flat_grad()
            for p, data in zip(self._params(), saved, strict=True):
                p.data[...] = data
            return loss, grad

        return evaluate

    # ------------------------------------------------------------------ the step

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Run up to ``max_iter`` L-BFGS iterations; return the loss before them."""
        if closure is None:
            raise TypeError(
                "LBFGS.step needs a closure that zeroes the gradients, runs forward and "
                "backward and returns the loss: it evaluates the model many times per step"
            )
        params = self._params()
        if not params:
            return float(closure())
        group = self.param_groups[0]
        state = self.state[params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        first_loss = closure()
        loss = float(first_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.max(np.abs(flat_grad)) <= group["tolerance_grad"]:
            return first_loss

        for n_iter in range(1, group["max_iter"] + 1):
            state["n_iter"] += 1
            d = self._direction(state, flat_grad, group["history_size"])
            state["prev_flat_grad"] = flat_grad.copy()
            state["prev_loss"] = loss
            t = group["lr"]
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * group["lr"]
            gtd = float(flat_grad @ d)
            if gtd > -group["tolerance_change"]:
                state["d"], state["t"] = d, t
                break

            if group["line_search_fn"] == "strong_wolfe":
                point, used = strong_wolfe(
                    self._evaluator(closure), t, d, _Point(0.0, loss, flat_grad, gtd),
                    max_ls=group["max_eval"] - evals,
                )  # fmt: skip
                loss, flat_grad, t = point.f, point.g, point.t
                self._add_to_params(t, d)
            else:
                self._add_to_params(t, d)
                used = 0
                if n_iter != group["max_iter"]:  # no use re-evaluating after the last one
                    loss = float(closure())
                    flat_grad = self._flat_grad()
                    used = 1
            evals += used
            state["func_evals"] += used
            state["d"], state["t"] = d, t

            if self._converged(group, n_iter, evals, flat_grad, d * t, loss - state["prev_loss"]):
                break
        return first_loss

    @staticmethod
    def _converged(
        group: Mapping[str, Any], n_iter: int, evals: int, grad: Array, step: Array,
        loss_change: float,
    ) -> bool:  # fmt: skip
        """PyTorch's stopping rules, checked after each iteration."""
        return (
            n_iter == group["max_iter"]
            or evals >= group["max_eval"]
            or bool(np.max(np.abs(grad)) <= group["tolerance_grad"])
            or bool(np.max(np.abs(step)) <= group["tolerance_change"])
            or abs(loss_change) < group["tolerance_change"]
        )

    def _direction(self, state: dict[str, Any], flat_grad: Array, history_size: int) -> Array:
        """d = −H g: steepest descent first, then the two-loop recursion over the history
        (after adding the last step to it when its curvature yᵀs is positive)."""
        if state["n_iter"] == 1:
            state["old_dirs"], state["old_stps"], state["ro"] = [], [], []
            state["H_diag"] = 1.0
            return -flat_grad
        y = flat_grad - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = float(y @ s)
        dirs, stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        if ys > 1e-10:
            if len(dirs) == history_size:
                dirs.pop(0), stps.pop(0), ro.pop(0)
            dirs.append(y)
            stps.append(s)
            ro.append(1.0 / ys)
            state["H_diag"] = ys / float(y @ y)

        al = state.setdefault("al", [None] * history_size)
        q = -flat_grad
        for i in range(len(dirs) - 1, -1, -1):
            al[i] = float(stps[i] @ q) * ro[i]
            q -= al[i] * dirs[i]
        r = q * state["H_diag"]
        for i in range(len(dirs)):
            beta = float(dirs[i] @ r) * ro[i]
            r += (al[i] - beta) * stps[i]
        return r

    # ------------------------------------------------------------------ state dicts

    def _required_state_of(
        self, group: Mapping[str, Any], param: Any, entries: Mapping[str, Any]
    ) -> set[str]:
        """The counters always; the direction and the history once a step has iterated
        (a first step that found the gradient already small keeps only the counters)."""
        counters = {"func_evals", "n_iter"}
        if not entries.get("n_iter"):
            return counters
        return (
            counters | self._flat_state | self._history_state | {"t", "ro", "H_diag", "prev_loss"}
        )

    def _loaded_value(self, param: Any, index: int, key: str, value: Any) -> Any:
        """LBFGS's state is global (flat vectors, a history, counters), not shaped like
        the first parameter it is stored under."""
        dtype = param.data.dtype
        if key in self._flat_state:
            return np.array(np.asarray(value), dtype=dtype)
        if key in self._history_state:
            return [np.array(np.asarray(v), dtype=dtype) for v in value]
        if key == "ro":
            return [float(v) for v in value]
        if key == "al":
            return [None if v is None else float(v) for v in value]
        if key in ("func_evals", "n_iter"):
            return int(value)
        return super()._loaded_value(param, index, key, value)
