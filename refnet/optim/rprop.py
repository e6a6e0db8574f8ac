"""``Rprop``: resilient backpropagation (Riedmiller & Braun, 1993)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet.nn.parameter import Parameter
from refnet.optim.optimizer import Optimizer, ParamsT, _pair


class Rprop(Optimizer):
    r"""Rprop (PyTorch: ``torch.optim.Rprop``): each coordinate keeps its own step size and
    moves by it against the *sign* of its gradient; the size of the gradient is never used.

    With etas (η₋, η₊), step-size bounds (Δ_min, Δ_max) and learning rate γ, step t::

        g_t = ∇f(θ_{t-1})                        (−∇f(θ_{t-1}) with maximize=True)
        s   = sign(g_t · g_{t-1})                (g_0 = 0)
        Δ_t = clamp(Δ_{t-1} · {η₊ if s > 0, η₋ if s < 0, 1 if s = 0}, Δ_min, Δ_max)
        g_t = 0                                  where s < 0 (the sign flipped: a minimum
                                                 was jumped over, so wait one step)
        θ_t = θ_{t-1} − sign(g_t) · Δ_t

    Δ₀ = γ. The kept g_t (zeroed where the sign flipped) is the next step's g_{t-1}, so a
    coordinate that overshot shrinks its step once and then moves again. Rprop is meant for
    full-batch gradients: with minibatch noise the signs flip at random. State: ``step``,
    ``prev`` (g_{t-1}) and ``step_size`` (Δ). Defaults ``lr=1e-2``, ``etas=(0.5, 1.2)``,
    ``step_sizes=(1e-6, 50)``, PyTorch's.

    >>> import numpy as np
    >>> from refnet.nn import Parameter
    >>> p = Parameter(np.array([1.0, -1.0])); p.grad[...] = [0.5, -2000.0]
    >>> Rprop([p], lr=0.1).step(); p.data  # a step of γ whatever the gradient's size
    array([ 0.9, -0.9])
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "etas": _pair(etas),
            "step_sizes": _pair(step_sizes),
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        etas, sizes = options["etas"], options["step_sizes"]
        if not (isinstance(etas, tuple) and len(etas) == 2 and 0.0 < etas[0] < 1.0 < etas[1]):
            raise ValueError(
                f"{where}invalid eta values {etas!r}: expected 0 < etaminus < 1 < etaplus"
            )
        if not (isinstance(sizes, tuple) and len(sizes) == 2 and 0.0 <= sizes[0] <= sizes[1]):
            raise ValueError(
                f"{where}invalid step_sizes {sizes!r}: expected 0 <= step_size_min <= step_size_max"
            )

    @staticmethod
    def _init_state(p: Parameter, lr: float) -> dict[str, Any]:
        return {"step": 0.0, "prev": np.zeros_like(p.data), "step_size": np.full_like(p.data, lr)}

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"step", "prev", "step_size"}

    def _update_group(self, group: dict[str, Any]) -> None:
        (etaminus, etaplus), (size_min, size_max) = group["etas"], group["step_sizes"]
        for p in self._trainable(group):
            state = self._state_of(p, lambda q: self._init_state(q, group["lr"]))
            state["step"] += 1
            g = self._gradient(p, group["maximize"], 0)
            prev, step_size = state["prev"], state["step_size"]
            factor = self._scratch_like(p, 1)

            np.sign(np.multiply(g, prev, out=factor), out=factor)
            flipped = factor < 0
            factor[factor > 0] = etaplus
            factor[flipped] = etaminus
            factor[factor == 0] = 1.0
            step_size *= factor
            np.clip(step_size, size_min, size_max, out=step_size)

            np.copyto(prev, g)
            prev[flipped] = 0.0
            p.data -= np.multiply(np.sign(prev, out=factor), step_size, out=factor)
