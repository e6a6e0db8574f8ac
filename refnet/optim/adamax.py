"""``Adamax``: Adam with the infinity norm (Kingma & Ba, 2015, section 7)."""

from __future__ import annotations

from typing import Any

import numpy as np

from refnet.optim.optimizer import (
    ParamsT,
    _AdamFamily,
    _lerp_,
    _pair,
)


class Adamax(_AdamFamily):
    r"""Adamax (PyTorch: ``torch.optim.Adamax``).

    With learning rate γ, betas (β₁, β₂), eps ε and weight decay λ, step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0
        m_t = β₁ m_{t-1} + (1 − β₁) g_t            (torch.lerp)
        u_t = max(β₂ u_{t-1}, |g_t| + ε)
        θ_t = θ_{t-1} − (γ / (1 − β₁ᵗ)) · m_t / u_t

    ε sits inside the max, as in PyTorch. m₀ = u₀ = 0. State: ``step``, ``exp_avg`` (m),
    ``exp_inf`` (u). Default ``lr=2e-3``.

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> p = Parameter(np.array([1.0, -1.0])); p.grad[...] = [0.5, -2.0]
    >>> Adamax([p], lr=0.1).step(); p.data
    array([ 0.9, -0.9])
    """

    _moments = ("exp_avg", "exp_inf")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": _pair(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p in self._trainable(group):
            state, step, g = self._begin_step(p, group)
            exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
            tmp = self._scratch_like(p, 1)

            _lerp_(exp_avg, g, 1 - beta1, tmp)
            exp_inf *= beta2
            np.maximum(exp_inf, np.add(np.abs(g, out=tmp), eps, out=tmp), out=exp_inf)

            clr = lr / (1 - beta1**step)
            p.data -= np.multiply(np.divide(exp_avg, exp_inf, out=tmp), clr, out=tmp)
