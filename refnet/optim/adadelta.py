"""``Adadelta``: step sizes from running averages of gradients and updates (Zeiler, 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.optim.optimizer import ParamsT, _check_range, _MomentsOptimizer


class Adadelta(_MomentsOptimizer):
    r"""Adadelta (PyTorch: ``torch.optim.Adadelta``).

    With learning rate γ (a scale on the update, 1.0 by default), decay ρ, eps ε and
    weight decay λ, step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0
        v_t = ρ v_{t-1} + (1 − ρ) g_t²
        Δ_t = √(u_{t-1} + ε) / √(v_t + ε) · g_t
        u_t = ρ u_{t-1} + (1 − ρ) Δ_t²
        θ_t = θ_{t-1} − γ Δ_t

    ε is inside both square roots (so the first step is ≈ √ε·sign(g), not zero).
    State: ``step``, ``square_avg`` (v), ``acc_delta`` (u), both starting at zero.
    """

    _moments = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "rho", "rho value", where, at_most=1.0)
        _check_range(options, "eps", "epsilon value", where)
        _check_range(options, "weight_decay", "weight_decay value", where)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for p in self._trainable(group):
            state, _, g = self._begin_step(p, group)
            square_avg, acc_delta = state["square_avg"], state["acc_delta"]
            tmp, delta = self._scratch_like(p, 1), self._scratch_like(p, 2)

            square_avg *= rho
            square_avg += np.multiply(np.multiply(g, 1 - rho, out=tmp), g, out=tmp)
            std = np.sqrt(np.add(square_avg, eps, out=tmp), out=tmp)
            np.sqrt(np.add(acc_delta, eps, out=delta), out=delta)
            delta /= std
            delta *= g
            acc_delta *= rho
            acc_delta += np.multiply(np.multiply(delta, 1 - rho, out=tmp), delta, out=tmp)
            p.data -= np.multiply(delta, lr, out=tmp)
