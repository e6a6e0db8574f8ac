"""``Muon``: momentum, orthogonalised by Newton-Schulz iterations (Jordan et al., 2024)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from refnet._typing import Array
from refnet.optim.optimizer import Optimizer, ParamsT, _check_range, _lerp_

NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)
"""The quintic's coefficients (a, b, c) of Muon's reference code, PyTorch's defaults."""


def orthogonalize(
    g: Array, coefficients: tuple[float, float, float] = NEWTON_SCHULZ, steps: int = 5,
    eps: float = 1e-7,
) -> Array:  # fmt: skip
    r"""An approximation of U Vᵀ for the SVD g = U S Vᵀ: every singular value pushed
    towards 1, the directions kept.

    Scale g by its Frobenius norm (so its singular values are at most 1), then iterate
    the odd polynomial ``X ← a X + b (X Xᵀ) X + c (X Xᵀ)² X``, which maps each singular
    value σ to ``aσ + bσ³ + cσ⁵``. With (a, b, c) = (3.4445, −4.7750, 2.0315) the slope at
    0 is steep (3.4), so small singular values grow fast, and five steps leave them all
    in about [0.7, 1.2] rather than converging exactly: good enough for a step direction
    and cheap. The wide side is iterated on the transpose, so X Xᵀ is the small Gram matrix.
    """
    a, b, c = coefficients
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / max(float(np.linalg.norm(x)), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


class Muon(Optimizer):
    r"""Muon (PyTorch: ``torch.optim.Muon``): SGD with Nesterov momentum whose step for a
    weight matrix is the momentum *orthogonalised*, every direction given the same size.

    With learning rate γ, momentum μ, weight decay λ, step t::

        b_t = lerp(b_{t-1}, g_t, 1 − μ)             (b₀ = 0)
        u_t = lerp(g_t, b_t, μ)                      if nesterov, else b_t
        O_t = orthogonalize(u_t)                     (Newton-Schulz, see orthogonalize)
        θ_t = θ_{t-1}(1 − γλ) − γ' O_t

    where γ' = γ · √max(1, rows/cols) (``adjust_lr_fn='original'`` or ``None``), or
    γ' = 0.2 γ √max(rows, cols) (``'match_rms_adamw'``, so the update has AdamW's typical
    RMS and AdamW's learning rate carries over). Only 2-D parameters: Muon is for the
    hidden weight matrices; train embeddings, biases and norms with AdamW beside it.
    State: ``momentum_buffer``. Defaults are PyTorch's (``lr=1e-3``, ``weight_decay=0.1``,
    ``momentum=0.95``, ``nesterov=True``, five steps).

    One deliberate difference: PyTorch runs the iteration in bfloat16 (three significant
    digits, cheap on a GPU); refnet runs it in the parameter's dtype, so its trajectory is
    PyTorch's arithmetic without that rounding (tests/test_optim_extra.py compares both).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NEWTON_SCHULZ,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": tuple(ns_coefficients),
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "momentum", "momentum value", where)
        _check_range(options, "weight_decay", "weight_decay value", where)
        _check_range(options, "eps", "epsilon value", where)
        if options["adjust_lr_fn"] not in (None, "original", "match_rms_adamw"):
            raise ValueError(
                f"{where}adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got "
                f"{options['adjust_lr_fn']!r}"
            )
        steps = options["ns_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps < 100:
            raise ValueError(f"{where}ns_steps must be an integer in [0, 100), got {steps!r}")
        if len(options["ns_coefficients"]) != 3:
            raise ValueError(f"{where}ns_coefficients must be three numbers (a, b, c)")
        for i, p in enumerate(options.get("params", [])):
            if p.data.ndim != 2:
                raise ValueError(
                    f"{where}Muon only supports 2-D parameters, but parameter {i} has shape "
                    f"{p.data.shape} (train it with AdamW beside Muon)"
                )

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"momentum_buffer"}

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum = group["lr"], group["momentum"]
        for p in self._trainable(group):
            state = self._state_of(p, lambda q: {"momentum_buffer": np.zeros_like(q.data)})
            buf, g = state["momentum_buffer"], p.grad
            _lerp_(buf, g, 1 - momentum, self._scratch_like(p, 1))
            if group["nesterov"]:
                update = g.copy()
                _lerp_(update, buf, momentum, self._scratch_like(p, 1))
            else:
                update = buf
            direction = orthogonalize(
                update, group["ns_coefficients"], group["ns_steps"], group["eps"]
            )
            p.data *= 1 - lr * group["weight_decay"]
            p.data -= _adjusted_lr(lr, group["adjust_lr_fn"], p.data.shape) * direction


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """γ' from γ and the matrix's shape (see :class:`Muon`)."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1.0, rows / cols))
