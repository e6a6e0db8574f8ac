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
from refnet.nn.functional.dropout import dropout_noise
from refnet.nn.functional.loss import (
    p_norm,
    p_norm_backward,
    pairwise_distance,
    softmax_parts,
    xlogy,
)
from refnet.nn.functional.normalization import (
    BatchStats,
    batch_norm_eval,
    batch_norm_eval_backward,
    batch_norm_train,
    batch_norm_train_backward,
    channel_dot,
    channel_sum,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    normalize_rows,
    normalize_rows_backward,
)
from refnet.nn.functional.sparse import embedding, embedding_backward, embedding_renorm_

__all__ = [
    "BatchStats",
    "batch_norm_eval",
    "batch_norm_eval_backward",
    "batch_norm_train",
    "batch_norm_train_backward",
    "channel_dot",
    "channel_sum",
    "dropout_noise",
    "embedding",
    "embedding_backward",
    "embedding_renorm_",
    "erf",
    "erfc",
    "group_norm",
    "group_norm_backward",
    "layer_norm",
    "layer_norm_backward",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "normalize_rows",
    "normalize_rows_backward",
    "p_norm",
    "p_norm_backward",
    "pairwise_distance",
    "sigmoid",
    "softmax",
    "softmax_parts",
    "softplus",
    "xlogy",
]
