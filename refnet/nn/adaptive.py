"""``AdaptiveLogSoftmaxWithLoss``: a softmax over many classes at the cost of a few.

Grave et al. (2017), "Efficient softmax approximation for GPUs". Sort the classes by
frequency and cut them at ``cutoffs = [c₁, c₂, ...]``: the *head* is a softmax over the
c₁ most frequent classes plus one entry per *cluster* of the rest; cluster i is a softmax
over its own classes, behind a small projection (``in_features / div_value^(i+1)`` wide).
A class y in cluster i gets

    log p(y | x) = log p_head(cluster i | x) + log p_i(y | x),

the probability of its cluster times its probability within the cluster, and a class in
the head simply ``log p_head(y | x)``. The distribution still sums to one, but a sample
costs the head and its own cluster only: the rare classes' large matrices are touched
only by the rows that need them.

**Backward.** For a log-softmax ``ℓ = log softmax(z)`` read at index k, ``∂ℓ_k/∂z =
onehot(k) − softmax(z)``. With g_n the upstream gradient of sample n's log-probability
(``-1/N`` from the mean loss, plus the gradient of ``output`` if the loss uses it):
the head logits get ``g_n (onehot(k_n) − softmax(z_n))``, k_n the sample's class or
cluster entry, and the logits of the cluster a sample falls in get the same form with its
index inside the cluster. Those go back through the head and the cluster's projections;
a cluster's rows of ∂input are added to the head's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from refnet._typing import Array, IntArray, Seed
from refnet.nn._validation import float_input, matching_dtype, output_gradient
from refnet.nn.container import ModuleList, Sequential
from refnet.nn.functional.activation import log_softmax
from refnet.nn.linear import Linear
from refnet.nn.module import Module
from refnet.random import as_generator

__all__ = ["ASMoutput", "AdaptiveLogSoftmaxWithLoss"]


class ASMoutput(NamedTuple):
    """What :class:`AdaptiveLogSoftmaxWithLoss` returns: each sample's log-probability of
    its target (N,) and the loss, their negated mean (PyTorch: ``_ASMoutput``)."""

    output: Array
    loss: Array


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax (PyTorch: ``nn.AdaptiveLogSoftmaxWithLoss``); see the module
    docstring.

    ``forward(input (N, in_features) or (in_features,), target (N,) or ())`` returns
    :class:`ASMoutput` ``(output, loss)``; ``backward(grad_output=None, grad_loss=None)``
    returns ∂L/∂input, and with no gradient at all takes ``grad_loss = 1`` (the loss
    itself, as a loss's ``backward()``). :meth:`log_prob` gives the full (N, n_classes)
    log-distribution and :meth:`predict` the most likely class, both without a cache.

    Parameters as PyTorch's: ``head`` (``Linear(in_features, cutoffs[0] + n_clusters,
    bias=head_bias)``) and ``tail`` (a ``ModuleList`` of ``Sequential(Linear(in, h,
    bias=False), Linear(h, cluster size, bias=False))``), so ``state_dict`` keys match.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        dtype: npt.DTypeLike = np.float32,
        generator: Seed = None,
    ) -> None:
        super().__init__()
        cuts = list(cutoffs)
        if not cuts:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a non-empty sequence")
        if (
            any(isinstance(c, bool) or int(c) != c for c in cuts)
            or cuts != sorted(cuts)
            or len(set(cuts)) != len(cuts)
            or min(cuts) <= 0
            or max(cuts) > n_classes - 1
        ):
            raise ValueError(
                "AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive "
                f"integers sorted in an increasing order, each between 1 and n_classes-1 "
                f"({n_classes - 1}); got {cuts}"
            )
        rng = as_generator(generator)
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = [int(c) for c in cuts] + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, head_bias, dtype=dtype, generator=rng)
        self.tail = ModuleList(
            Sequential(
                Linear(in_features, hidden, bias=False, dtype=dtype, generator=rng),
                Linear(hidden, size, bias=False, dtype=dtype, generator=rng),
            )
            for hidden, size in self._cluster_shapes()
        )

    def _cluster_shapes(self) -> list[tuple[int, int]]:
        """(projection width, number of classes) of each cluster."""
        return [
            (int(self.in_features // self.div_value ** (i + 1)), high - low)
            for i, (low, high) in enumerate(itertools.pairwise(self.cutoffs))
        ]

    def reset_parameters(self, generator: Seed = None) -> None:
        """PyTorch's initialisation of every Linear inside, again."""
        rng = as_generator(generator)
        self.head.reset_parameters(rng)
        for projection in self.tail:
            for layer in projection:  # type: ignore[attr-defined]
                layer.reset_parameters(rng)

    # ------------------------------------------------------------------ loss

    def forward(self, input: Array, target: IntArray) -> ASMoutput:
        x, t, batched = self._checked(input, target)
        head_index = t.copy()
        output = np.zeros(t.shape[0], dtype=x.dtype)
        clusters: list[tuple[int, IntArray, IntArray, Array]] = []
        for i, (low, high) in enumerate(itertools.pairwise(self.cutoffs)):
            rows = np.flatnonzero((t >= low) & (t < high))
            if rows.size == 0:
                continue
            head_index[rows] = self.shortlist_size + i
            log_p = log_softmax(self.tail[i](x[rows]), dim=1)
            inside = t[rows] - low
            output[rows] = log_p[np.arange(rows.size), inside]
            clusters.append((i, rows, inside, np.exp(log_p)))
        head_log_p = log_softmax(self.head(x), dim=1)
        output += head_log_p[np.arange(t.shape[0]), head_index]
        self._head = (head_index, np.exp(head_log_p))
        self._clusters = clusters
        self._batched = batched
        loss = np.asarray(-output.mean(), dtype=x.dtype)
        return ASMoutput(output if batched else output[0], loss)

    def _checked(self, input: Array, target: IntArray) -> tuple[Array, IntArray, bool]:
        """The input as (N, in_features) and the targets as (N,) int64, validated."""
        x = float_input(self, input)
        matching_dtype(self, x, self.head.weight.data.dtype)
        if not isinstance(target, np.ndarray) or not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"{self.describe()}: expected the targets as an integer array")
        t = target
        if t.ndim > 1 or x.ndim != t.ndim + 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self.describe()}: expected input (N, {self.in_features}) with target (N,), "
                f"or input ({self.in_features},) with a 0-d target; got input {x.shape}, "
                f"target {t.shape}"
            )
        batched = t.ndim == 1
        x2, t1 = (x, t) if batched else (x[None], t[None])
        if x2.shape[0] != t1.shape[0]:
            raise ValueError(
                f"{self.describe()}: input and target should have the same size in the batch "
                f"dimension, got {x2.shape[0]} and {t1.shape[0]}"
            )
        if t1.size and (t1.min() < 0 or t1.max() >= self.n_classes):
            raise ValueError(
                f"{self.describe()}: target values should be in [0, {self.n_classes - 1}], but "
                f"values in [{t1.min()}, {t1.max()}] were found"
            )
        return x2, t1.astype(np.int64), batched

    def backward(self, grad_output: Array | None = None, grad_loss: Any = None) -> Array:
        head_index, head_p = self._saved(self._head)
        N, dtype = head_index.shape[0], head_p.dtype
        shape = (N,) if self._batched else ()
        g = output_gradient(self, grad_output, shape, dtype).reshape(N).copy()
        if grad_loss is not None or grad_output is None:  # backward(): the loss itself
            g -= self._loss_gradient(grad_loss, dtype) / N
        grad_input = self._input_gradient(self.head, _log_softmax_gradient(head_p, head_index, g))
        for i, rows, inside, p in reversed(self._clusters):
            cluster_grad = _log_softmax_gradient(p, inside, g[rows])
            grad_input[rows] += self._input_gradient(self.tail[i], cluster_grad)
        return grad_input if self._batched else grad_input[0]

    def _loss_gradient(self, grad_loss: Any, dtype: np.dtype[Any]) -> float:
        """∂L/∂loss: 1 when not given, else a number or a 0-d array of the loss's dtype."""
        if grad_loss is None:
            return 1.0
        if isinstance(grad_loss, np.ndarray):
            return float(output_gradient(self, grad_loss, (), dtype, "grad_loss"))
        if isinstance(grad_loss, bool) or not isinstance(grad_loss, int | float):
            raise TypeError(
                f"{self.describe()}: backward() expects grad_loss as a number, a 0-d array or "
                f"None, got {type(grad_loss).__name__}"
            )
        return float(grad_loss)

    @staticmethod
    def _input_gradient(layer: Module, grad: Array) -> Array:
        out = layer.backward(grad)
        if out is None:  # a Linear told it needs no input gradient
            raise RuntimeError("AdaptiveLogSoftmaxWithLoss: its layers must return ∂input")
        return np.asarray(out)

    # ------------------------------------------------------------------ inference

    def log_prob(self, input: Array) -> Array:
        """log p(c | x) for every class (N, n_classes); keeps no cache for a backward."""
        from refnet.grad_mode import no_grad

        x = np.asarray(input)
        with no_grad():
            head_log_p = log_softmax(self.head(x), dim=1)
            out = np.empty((x.shape[0], self.n_classes), dtype=head_log_p.dtype)
            out[:, : self.shortlist_size] = head_log_p[:, : self.shortlist_size]
            bounds = itertools.pairwise(self.cutoffs)
            for i, (low, high) in enumerate(bounds):
                cluster = log_softmax(self.tail[i](x), dim=1)
                out[:, low:high] = cluster + head_log_p[:, self.shortlist_size + i, None]
        return out

    def predict(self, input: Array) -> IntArray:
        """The most likely class of each row (N,): ``log_prob(input).argmax(1)``."""
        return np.argmax(self.log_prob(input), axis=1)

    def extra_repr(self) -> str:
        return ""


def _log_softmax_gradient(p: Array, index: IntArray, g: Array) -> Array:
    """∂/∂z of Σ_n g_n log softmax(z_n)[index_n]: ``g_n (onehot(index_n) − p_n)``."""
    grad = -p * g[:, None]
    grad[np.arange(index.shape[0]), index] += g
    return grad
