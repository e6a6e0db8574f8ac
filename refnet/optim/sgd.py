"""``SGD``: stochastic gradient descent, optionally with (Nesterov) momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.optim.optimizer import Optimizer, ParamsT, _check_range


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum (PyTorch: ``torch.optim.SGD``).

    For each parameter θ with gradient ∇f(θ), learning rate γ, momentum μ, dampening τ
    and weight decay λ, step t (from 1) computes::

        g_t = ∇f(θ_{t-1})                      (−∇f(θ_{t-1}) with maximize=True)
        g_t = g_t + λ θ_{t-1}                  if λ ≠ 0
        if μ ≠ 0:
            b_t = g_t                          if t = 1   (no dampening on the first step)
            b_t = μ b_{t-1} + (1 − τ) g_t      otherwise
            g_t = g_t + μ b_t                  if nesterov
            g_t = b_t                          otherwise
        θ_t = θ_{t-1} − γ g_t

    State: ``momentum_buffer`` (b), only when μ ≠ 0. Nesterov momentum needs μ > 0 and
    τ = 0. Defaults and argument order are PyTorch's (``lr=1e-3``).

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> p = Parameter(np.array([1.0, 2.0])); p.grad[...] = [0.5, -1.0]
    >>> opt = SGD([p], lr=0.1, momentum=0.9)
    >>> opt.step(); p.data
    array([0.95, 2.1 ])
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "momentum", "momentum value", where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(
                f"{where}Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={options['momentum']}, dampening={options['dampening']})"
            )

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        nesterov, maximize, weight_decay = (
            group["nesterov"],
            group["maximize"],
            group["weight_decay"],
        )
        for p in self._trainable(group):
            g = self._gradient(p, maximize, weight_decay)
            if momentum != 0:
                state = self._state_of(p, lambda _: {})
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = g.copy()
                else:
                    tmp = self._scratch_like(p, 1)
                    buf *= momentum
                    buf += np.multiply(g, 1 - dampening, out=tmp)
                if nesterov:
                    tmp = self._scratch_like(p, 1)
                    np.multiply(buf, momentum, out=tmp)
                    g = np.add(g, tmp, out=tmp)
                else:
                    g = buf
            update = self._scratch_like(p, 2)
            p.data -= np.multiply(g, lr, out=update)
