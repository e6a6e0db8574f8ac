"""``RAdam``: rectified Adam (Liu et al., 2020)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.optim.optimizer import (
    ParamsT,
    _AdamFamily,
    _pair,
    _update_moments_,
)


class RAdam(_AdamFamily):
    r"""RAdam (PyTorch: ``torch.optim.RAdam``).

    Adam's adaptive step is unreliable while few gradients have been seen; RAdam uses
    plain momentum SGD until the variance of the adaptive rate is tractable, then Adam
    with a rectification factor r_t. With learning rate γ, betas (β₁, β₂), eps ε and
    weight decay λ, step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        θ_{t-1} = θ_{t-1} (1 − γλ)                 if λ ≠ 0 and decoupled_weight_decay
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0 otherwise
        m_t = β₁ m_{t-1} + (1 − β₁) g_t            (torch.lerp)
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        m̂_t = m_t / (1 − β₁ᵗ)
        ρ_∞ = 2/(1 − β₂) − 1,    ρ_t = ρ_∞ − 2 t β₂ᵗ / (1 − β₂ᵗ)
        if ρ_t > 5:
            r_t = √((ρ_t − 4)(ρ_t − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_t))
            l_t = √(1 − β₂ᵗ) / (√v_t + ε)
            θ_t = θ_{t-1} − γ m̂_t l_t r_t
        else:
            θ_t = θ_{t-1} − γ m̂_t

    State: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v). With the default β₂ = 0.999,
    the first five steps are un-adapted (ρ_t ≈ t for small t; ρ_6 ≈ 5.99).
    """

    _moments = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": _pair(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p in self._trainable(group):
            state, step, g = self._begin_step(p, group)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            tmp, update = self._scratch_like(p, 1), self._scratch_like(p, 2)

            _update_moments_(exp_avg, exp_avg_sq, g, beta1, beta2, tmp)

            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            np.divide(exp_avg, bias_correction1, out=update)  # m̂_t
            update *= lr
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
            if rho_t > 5.0:
                rect = (
                    (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                ) ** 0.5
                adaptive_lr = np.sqrt(exp_avg_sq, out=tmp)
                adaptive_lr += eps
                np.divide(bias_correction2**0.5, adaptive_lr, out=adaptive_lr)
                update *= adaptive_lr
                update *= rect
            p.data -= update
