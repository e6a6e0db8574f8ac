"""``RMSprop``: divide by a running root mean square of the gradients (Hinton, 2012)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.nn.parameter import Parameter
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range, _lerp_


class RMSprop(Optimizer):
    r"""RMSprop (PyTorch: ``torch.optim.RMSprop``).

    With learning rate γ, smoothing constant α, eps ε, weight decay λ and momentum μ,
    step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0
        v_t = α v_{t-1} + (1 − α) g_t²
        if centered:
            ḡ_t = α ḡ_{t-1} + (1 − α) g_t         (torch.lerp)
            d_t = √(v_t − ḡ_t²) + ε
        else:
            d_t = √v_t + ε
        if μ > 0:
            b_t = μ b_{t-1} + g_t / d_t
            θ_t = θ_{t-1} − γ b_t
        else:
            θ_t = θ_{t-1} − γ g_t / d_t

    ε is added outside the square root. State: ``step``, ``square_avg`` (v),
    ``momentum_buffer`` (b, when μ > 0) and ``grad_avg`` (ḡ, when centered), all starting
    at zero. Default ``lr=1e-2``, ``alpha=0.99``.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "eps", "epsilon value", where)
        _check_range(options, "momentum", "momentum value", where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        _check_range(options, "alpha", "alpha value", where)

    @staticmethod
    def _init_state(p: Parameter, momentum: float, centered: bool) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0.0, "square_avg": np.zeros_like(p.data)}
        if momentum > 0:
            state["momentum_buffer"] = np.zeros_like(p.data)
        if centered:
            state["grad_avg"] = np.zeros_like(p.data)
        return state

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return (
            {"step", "square_avg"}
            | ({"momentum_buffer"} if group["momentum"] > 0 else set())
            | ({"grad_avg"} if group["centered"] else set())
        )

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        weight_decay, momentum, centered = (
            group["weight_decay"],
            group["momentum"],
            group["centered"],
        )
        maximize = group["maximize"]
        for p in self._trainable(group):
            state = self._state_of(p, lambda q: self._init_state(q, momentum, centered))
            state["step"] += 1
            g = self._gradient(p, maximize, weight_decay)
            square_avg = state["square_avg"]
            tmp, avg = self._scratch_like(p, 1), self._scratch_like(p, 2)

            square_avg *= alpha
            square_avg += np.multiply(np.multiply(g, 1 - alpha, out=tmp), g, out=tmp)
            if centered:
                grad_avg = state.setdefault("grad_avg", np.zeros_like(p.data))
                _lerp_(grad_avg, g, 1 - alpha, tmp)
                np.subtract(square_avg, np.square(grad_avg, out=tmp), out=avg)
                np.sqrt(avg, out=avg)
            else:
                np.sqrt(square_avg, out=avg)
            avg += eps

            if momentum > 0:
                buf = state.setdefault("momentum_buffer", np.zeros_like(p.data))
                buf *= momentum
                buf += np.divide(g, avg, out=tmp)
                p.data -= np.multiply(buf, lr, out=tmp)
            else:
                p.data -= np.multiply(np.divide(g, avg, out=tmp), lr, out=tmp)
