"""``ASGD``: averaged stochastic gradient descent (Polyak & Juditsky, 1992)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.nn.parameter import Parameter
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range


class ASGD(Optimizer):
    r"""Averaged SGD (PyTorch: ``torch.optim.ASGD``): SGD with a decaying step size, and a
    running average of the iterates kept beside them.

    With learning rate γ, decay λ, power α, averaging start t₀ and weight decay w, step t
    (from 1), starting from η₀ = γ and μ₀ = 1::

        g_t = ∇f(θ_{t-1}) + w θ_{t-1}            (−∇f with maximize=True)
        θ_t = θ_{t-1} (1 − λ η_{t-1}) − η_{t-1} g_t
        θ̄_t = θ̄_{t-1} + μ_{t-1} (θ_t − θ̄_{t-1})  (θ̄_t = θ_t while μ = 1)
        η_t = γ / (1 + λ γ t)^α
        μ_t = 1 / max(1, t − t₀)

    The average θ̄ (state ``ax``) is what the theory says converges at the optimal rate; the
    parameters themselves are the plain iterates, as in PyTorch, so to use the average copy
    ``ax`` into the parameters after training. With the default t₀ = 10⁶ no averaging
    happens in a short run (θ̄ = θ). State: ``step``, ``eta``, ``mu`` (numbers) and ``ax``.

    PyTorch keeps ``eta`` and ``mu`` as scalar tensors of its default dtype (float32 unless
    ``torch.set_default_dtype(torch.float64)``) and rounds them there; refnet keeps Python
    floats.
    """

    _scalar_state = frozenset({"step", "eta", "mu"})

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        _check_range(options, "lambd", "lambd value", where)

    @staticmethod
    def _init_state(p: Parameter, lr: float) -> dict[str, Any]:
        return {"step": 0.0, "eta": float(lr), "mu": 1.0, "ax": np.zeros_like(p.data)}

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"step", "eta", "mu", "ax"}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        for p in self._trainable(group):
            state = self._state_of(p, lambda q: self._init_state(q, lr))
            state["step"] += 1
            g = self._gradient(p, group["maximize"], group["weight_decay"])
            eta, ax, tmp = state["eta"], state["ax"], self._scratch_like(p, 1)

            p.data *= 1 - lambd * eta
            p.data -= np.multiply(g, eta, out=tmp)
            if state["mu"] != 1:
                ax += np.multiply(np.subtract(p.data, ax, out=tmp), state["mu"], out=tmp)
            else:
                np.copyto(ax, p.data)

            step = state["step"]
            state["eta"] = lr / (1 + lambd * lr * step) ** alpha
            state["mu"] = 1 / max(1.0, step - t0)
