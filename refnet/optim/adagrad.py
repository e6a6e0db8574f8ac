"""``Adagrad``: per-coordinate step sizes from the sum of squared gradients (Duchi et al., 2011)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.nn.parameter import Parameter
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range


class Adagrad(Optimizer):
    r"""Adagrad (PyTorch: ``torch.optim.Adagrad``).

    With learning rate γ, learning-rate decay η, weight decay λ, initial accumulator
    value s₀ and eps ε, step t (from 1)::

        g_t = ∇f(θ_{t-1})                          (−∇f(θ_{t-1}) with maximize=True)
        g_t = g_t + λ θ_{t-1}                      if λ ≠ 0
        γ̃_t = γ / (1 + (t − 1) η)
        s_t = s_{t-1} + g_t²
        θ_t = θ_{t-1} − γ̃_t g_t / (√s_t + ε)

    State: ``step`` and ``sum`` (s), created for every parameter when the optimizer is
    built, as in PyTorch. Defaults ``lr=1e-2``, ``eps=1e-10``.

    As in PyTorch, s₀ is the *constructor's* ``initial_accumulator_value``: a value given
    in a parameter group is kept in the group but not used.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._init_state(p)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "lr_decay", "lr_decay value", where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        _check_range(options, "initial_accumulator_value", "initial_accumulator_value", where)
        _check_range(options, "eps", "epsilon value", where)

    def _init_state(self, p: Parameter) -> dict[str, Any]:
        value = self.defaults["initial_accumulator_value"]
        return {"step": 0.0, "sum": np.full_like(p.data, value)}

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"step", "sum"}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        for p in self._trainable(group):
            state = self._state_of(p, self._init_state)
            state["step"] += 1
            g = self._gradient(p, maximize, weight_decay)
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            state_sum = state["sum"]
            tmp = self._scratch_like(p, 1)

            state_sum += np.multiply(g, g, out=tmp)
            std = np.sqrt(state_sum, out=tmp)
            std += eps
            p.data -= np.multiply(np.divide(g, std, out=tmp), clr, out=tmp)
