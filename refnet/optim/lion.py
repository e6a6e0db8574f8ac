"""``Lion``: evolved sign momentum (Chen et al., 2023). Not in PyTorch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.optim.optimizer import Optimizer, ParamsT, _check_betas, _check_range, _pair


class Lion(Optimizer):
    r"""Lion, from "Symbolic Discovery of Optimization Algorithms" (Chen et al., 2023).

    PyTorch has no counterpart; this is the paper's update rule (and the authors'
    reference code). With learning rate γ, betas (β₁, β₂) and decoupled weight decay λ,
    each step::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        c_t = β₁ m_{t-1} + (1 − β₁) g_t            (interpolate, then take the sign)
        θ_t = θ_{t-1} − γ (sign(c_t) + λ θ_{t-1})
        m_t = β₂ m_{t-1} + (1 − β₂) g_t

    Every coordinate moves by exactly γ (plus the decay), so Lion wants a learning rate
    3-10x smaller than AdamW's and a weight decay 3-10x larger. sign(0) = 0. State:
    ``exp_avg`` (m), starting at zero. Defaults are the paper's: ``lr=1e-4``,
    ``betas=(0.9, 0.99)``, ``weight_decay=0``.

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> p = Parameter(np.array([1.0, -1.0, 0.5])); p.grad[...] = [0.5, -2.0, 0.0]
    >>> Lion([p], lr=0.1).step(); p.data
    array([ 0.9, -0.9,  0.5])
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": _pair(betas),
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_betas(options, where)
        _check_range(options, "weight_decay", "weight_decay value", where)

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"exp_avg"}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, (beta1, beta2) = group["lr"], group["betas"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p in self._trainable(group):
            state = self._state_of(p, lambda q: {"exp_avg": np.zeros_like(q.data)})
            g = self._gradient(p, maximize, 0)
            exp_avg = state["exp_avg"]
            tmp, update = self._scratch_like(p, 1), self._scratch_like(p, 2)

            if weight_decay != 0:
                p.data *= 1 - lr * weight_decay
            np.multiply(exp_avg, beta1, out=update)
            update += np.multiply(g, 1 - beta1, out=tmp)
            np.sign(update, out=update)
            p.data -= np.multiply(update, lr, out=update)
            exp_avg *= beta2
            exp_avg += np.multiply(g, 1 - beta2, out=tmp)
