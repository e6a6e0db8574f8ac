"""Utilities that act on parameters rather than being layers (PyTorch: ``torch.nn.utils``)."""

from refnet.nn.utils import rnn
from refnet.nn.utils.clip_grad import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "rnn",
]
