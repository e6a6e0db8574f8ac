"""``AdamW``: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from refnet.optim.adam import Adam
from refnet.optim.optimizer import ParamsT


class AdamW(Adam):
    r"""AdamW (PyTorch: ``torch.optim.AdamW``): :class:`Adam` with decoupled weight decay.

    The decay shrinks the parameters directly instead of entering the gradient, so it
    does not pass through the moment estimates::

        θ_{t-1} = θ_{t-1} (1 − γλ)
        m_t = β₁ m_{t-1} + (1 − β₁) g_t,    v_t = β₂ v_{t-1} + (1 − β₂) g_t²
        θ_t = θ_{t-1} − (γ / (1 − β₁ᵗ)) · m_t / (√v_t / √(1 − β₂ᵗ) + ε)

    (with amsgrad, v̂_t = max(v̂_{t-1}, v_t) replaces v_t). Same as
    ``Adam(..., decoupled_weight_decay=True)``; the default ``weight_decay`` is 1e-2.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load as :meth:`Optimizer.load_state_dict`; the decay stays decoupled (as PyTorch)."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
