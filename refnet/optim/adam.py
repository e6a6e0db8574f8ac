"""``Adam``: adaptive moment estimation (Kingma & Ba, 2015), with AMSGrad."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.optim.optimizer import (
    ParamsT,
    _AdamFamily,
    _pair,
    _update_moments_,
)


class Adam(_AdamFamily):
    r"""Adam (PyTorch: ``torch.optim.Adam``, whose default single-tensor path this follows).

    With learning rate γ, betas (β₁, β₂), eps ε and weight decay λ, step t (from 1)::

        g_t = ∇f(θ_{t-1})                         (−∇f(θ_{t-1}) with maximize=True)
        θ_{t-1} = θ_{t-1} (1 − γλ)                if λ ≠ 0 and decoupled_weight_decay
        g_t = g_t + λ θ_{t-1}                     if λ ≠ 0 otherwise (L2 penalty)
        m_t = β₁ m_{t-1} + (1 − β₁) g_t           (torch.lerp)
        v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        v̂_t = max(v̂_{t-1}, v_t)                   if amsgrad (and v̂ replaces v below)
        θ_t = θ_{t-1} − (γ / (1 − β₁ᵗ)) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)

    The bias corrections are PyTorch's form: ε is added *after* dividing √v by
    √(1 − β₂ᵗ), and the step size γ/(1 − β₁ᵗ) multiplies m_t (rather than forming m̂_t).
    The code multiplies numerator and denominator by √(1 − β₂ᵗ), so the correction rides
    in two scalars instead of a pass over every parameter (the same number up to rounding).
    m₀ = v₀ = 0. State: ``step`` (a float, t), ``exp_avg`` (m), ``exp_avg_sq`` (v) and
    ``max_exp_avg_sq`` (v̂) with amsgrad. ``decoupled_weight_decay=True`` is AdamW.

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> p = Parameter(np.array([1.0, -1.0])); p.grad[...] = [0.5, -2.0]
    >>> Adam([p], lr=0.1).step(); p.data  # the first step moves each entry by ≈ lr
    array([ 0.9, -0.9])
    """

    _moments = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": _pair(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _moments_of(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        return (*self._moments, "max_exp_avg_sq") if group["amsgrad"] else self._moments

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        amsgrad = group["amsgrad"]
        for p in self._trainable(group):
            state, step, g = self._begin_step(p, group)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            tmp = self._scratch_like(p, 1)

            _update_moments_(exp_avg, exp_avg_sq, g, beta1, beta2, tmp)

            # γ/(1 − β₁ᵗ) · m / (√v / c + ε) with c = √(1 − β₂ᵗ), as the scalar
            # γc/(1 − β₁ᵗ) times m / (√v + εc): one pass over the parameter fewer.
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            step_size = lr * bias_correction2_sqrt / (1 - beta1**step)
            second = exp_avg_sq
            if amsgrad:
                second = state.setdefault("max_exp_avg_sq", np.zeros_like(p.data))
                np.maximum(second, exp_avg_sq, out=second)
            denom = np.sqrt(second, out=tmp)
            denom += eps * bias_correction2_sqrt
            p.data -= np.multiply(np.divide(exp_avg, denom, out=tmp), step_size, out=tmp)
