"""``Adafactor``: Adam's second moment in factored form (Shazeer & Stern, 2018)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet._typing import Array
from refnet.nn.parameter import Parameter
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range, _lerp_


class Adafactor(Optimizer):
    r"""Adafactor (PyTorch: ``torch.optim.Adafactor``): for a matrix gradient G (m × n)
    keep only the running mean of G² over each row (m numbers) and each column (n), not
    the whole m·n of Adam's v, and rebuild v from them as a rank-1 product.

    With learning rate γ, decay exponent c (``beta2_decay``), eps (ε₁, ε₂), clipping
    threshold d and weight decay λ, step t::

        β̂_t = t^c                                 (the weight of the new term: 1 at t = 1)
        ρ_t = min(γ, 1/√t)
        α_t = max(ε₂, RMS(θ_{t-1})) · ρ_t          (a step relative to the parameter's size)
        θ_{t-1} = θ_{t-1} (1 − γλ)                 if λ ≠ 0
        matrix (the last two axes):
            R_t = lerp(R_{t-1}, mean over columns of G², β̂_t)      (m × 1)
            C_t = lerp(C_{t-1}, mean over rows of G², β̂_t)         (1 × n)
            V_t = R_t C_t / max(mean(R_t), ε₁)
        vector:
            V_t = lerp(V_{t-1}, G², β̂_t)
        U_t = G / √max(V_t, ε₁²)
        θ_t = θ_{t-1} − α_t / max(1, RMS(U_t) / d) · U_t

    The rank-1 V is exact when G² is: R C / mean(R) puts each row's mean times each
    column's mean over the overall mean. Dividing by max(1, RMS(U)/d) clips the update's
    size rather than the gradient's. Leading axes of a tensor with more than two are
    batch axes. ε₁ = ``None`` means the machine epsilon of the parameter's dtype. State:
    ``step``, and ``row_var`` (R) and ``col_var`` (C) for a matrix or ``variance`` (V)
    for a vector. Defaults are PyTorch's: ``lr=1e-2``, ``beta2_decay=-0.8``,
    ``eps=(None, 1e-3)``, ``d=1``. PyTorch's α uses θ *before* the weight decay, and so
    does refnet.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": tuple(eps) if isinstance(eps, list) else eps,
            "d": d,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        if not options["beta2_decay"] <= 0.0:
            raise ValueError(f"{where}beta2_decay should be <= 0, got {options['beta2_decay']}")
        if not options["d"] >= 1.0:
            raise ValueError(f"{where}clipping threshold d should be >= 1, got {options['d']}")
        eps = options["eps"]
        if not (isinstance(eps, tuple) and len(eps) == 2):
            raise TypeError(f"{where}eps must be a pair (eps1 or None, eps2), got {eps!r}")
        if eps[0] is not None:
            _check_range({"eps[0]": eps[0]}, "eps[0]", "epsilon1", where)
        _check_range({"eps[1]": eps[1]}, "eps[1]", "epsilon2", where)

    def _state_shape(self, param: Parameter, key: str) -> tuple[int, ...]:
        shape = param.data.shape
        if key == "row_var":
            return (*shape[:-1], 1)
        if key == "col_var":
            return (*shape[:-2], 1, shape[-1])
        return shape

    def _init_state(self, p: Parameter) -> dict[str, Any]:
        if p.data.ndim > 1:
            return {
                "step": 0.0,
                "row_var": np.zeros(self._state_shape(p, "row_var"), dtype=p.data.dtype),
                "col_var": np.zeros(self._state_shape(p, "col_var"), dtype=p.data.dtype),
            }
        return {"step": 0.0, "variance": np.zeros_like(p.data)}

    def _required_state_of(
        self, group: Mapping[str, Any], param: Parameter, entries: Mapping[str, Any]
    ) -> set[str]:
        return {"step", "row_var", "col_var"} if param.data.ndim > 1 else {"step", "variance"}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, weight_decay, (eps1, eps2) = group["lr"], group["weight_decay"], group["eps"]
        for p in self._trainable(group):
            state = self._state_of(p, self._init_state)
            state["step"] += 1
            step = state["step"]
            g = self._gradient(p, group["maximize"], 0)
            eps1_p = float(np.finfo(p.data.dtype).eps) if eps1 is None else eps1

            weight = step ** group["beta2_decay"]
            rho = min(lr, 1 / step**0.5)
            alpha = max(eps2, _rms(p.data)) * rho
            if weight_decay != 0:
                p.data *= 1 - lr * weight_decay

            variance = self._variance_estimate(state, g, weight, eps1_p)
            np.maximum(variance, eps1_p * eps1_p, out=variance)
            update = np.divide(g, np.sqrt(variance, out=variance), out=variance)
            update *= alpha / max(1.0, _rms(update) / group["d"])
            p.data -= update

    def _variance_estimate(
        self, state: dict[str, Any], g: Array, weight: float, eps1: float
    ) -> Array:
        """V_t, a new array: the factored R C / max(mean R, ε₁) or the full running mean."""
        if g.ndim > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            square = np.square(g)
            _lerp_(row_var, square.mean(axis=-1, keepdims=True), weight, np.empty_like(row_var))
            _lerp_(col_var, square.mean(axis=-2, keepdims=True), weight, np.empty_like(col_var))
            return row_var @ col_var / np.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
        variance = state["variance"]
        _lerp_(variance, np.square(g), weight, np.empty_like(variance))
        return variance.copy()


def _rms(x: Array) -> float:
    """The root mean square of ``x``, ‖x‖₂ / √size."""
    return float(np.linalg.norm(x.ravel())) / math.sqrt(x.size)
