"""``NAdam``: Adam with Nesterov momentum (Dozat, 2016)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from refnet.optim.optimizer import (
    ParamsT,
    _AdamFamily,
    _check_range,
    _pair,
    _update_moments_,
)


class NAdam(_AdamFamily):
    r"""NAdam (PyTorch: ``torch.optim.NAdam``).

    With learning rate γ, betas (β₁, β₂), eps ε, weight decay λ and momentum decay ψ,
    step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        θ_{t-1} = θ_{t-1} (1 − γλ)                 if λ ≠ 0 and decoupled_weight_decay
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0 otherwise
        μ_t = β₁ (1 − ½ · 0.96^(t ψ)),   μ_{t+1} = β₁ (1 − ½ · 0.96^((t+1) ψ))
        Π_t = Π_{t-1} μ_t                          (Π₀ = 1: the "mu_product")
        m_t = β₁ m_{t-1} + (1 − β₁) g_t            (torch.lerp)
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        d_t = √(v_t / (1 − β₂ᵗ)) + ε
        θ_t = θ_{t-1} − γ (1 − μ_t)/(1 − Π_t) · g_t/d_t − γ μ_{t+1}/(1 − Π_t μ_{t+1}) · m_t/d_t

    State: ``step``, ``mu_product`` (Π), ``exp_avg`` (m), ``exp_avg_sq`` (v). Defaults
    ``lr=2e-3``, ``momentum_decay=4e-3``.

    PyTorch keeps Π in a float32 scalar tensor (its default scalar dtype), so Π is rounded
    to float32 after each product; refnet does the same, or float64 trajectories would
    differ from PyTorch's by ~1e-8 relative.
    """

    _scalar_state: ClassVar[frozenset[str]] = frozenset({"step", "mu_product"})

    _moments = ("exp_avg", "exp_avg_sq")
    _initial_scalars: ClassVar[Mapping[str, float]] = {"mu_product": 1.0}

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": _pair(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "momentum_decay", "momentum_decay value", where)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        momentum_decay = group["momentum_decay"]
        for p in self._trainable(group):
            state, step, g = self._begin_step(p, group)
            bias_correction2 = 1 - beta2**step

            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product = float(np.float32(state["mu_product"]) * np.float32(mu))
            state["mu_product"] = mu_product
            mu_product_next = mu_product * mu_next

            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            tmp, denom = self._scratch_like(p, 1), self._scratch_like(p, 2)
            _update_moments_(exp_avg, exp_avg_sq, g, beta1, beta2, tmp)
            np.sqrt(np.divide(exp_avg_sq, bias_correction2, out=denom), out=denom)
            denom += eps

            grad_weight = lr * (1.0 - mu) / (1.0 - mu_product)
            p.data -= np.multiply(np.divide(g, denom, out=tmp), grad_weight, out=tmp)
            momentum_weight = (lr * mu_next) / (1.0 - mu_product_next)
            p.data -= np.multiply(np.divide(exp_avg, denom, out=tmp), momentum_weight, out=tmp)
