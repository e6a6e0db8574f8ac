"""Stateless kernels (PyTorch: ``torch.nn.functional``), the dense part of refnet.

The modules in :mod:`refnet.nn` stay short by calling these. Each family lives in its
own file (activation, and later convolution, pooling, normalisation, loss kernels) and is
re-exported here, so ``import refnet.nn.functional as F`` finds them all.
"""

from refnet.nn.functional.activation import (
    erf,
    erfc,
    log_sigmoid,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softplus,
)
from refnet.nn.functional.loss import (
    p_norm,
    p_norm_backward,
    pairwise_distance,
    softmax_parts,
    xlogy,
)

__all__ = [
    "erf",
    "erfc",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "p_norm",
    "p_norm_backward",
    "pairwise_distance",
    "sigmoid",
    "softmax",
    "softmax_parts",
    "softplus",
    "xlogy",
]
