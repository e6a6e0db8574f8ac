"""``Sequential``: layers applied one after another; its backward is the chain rule.

``Residual``: a skip connection ``x + block(x)``, whose backward adds the two paths.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, overload

import numpy as np

from refnet.nn._validation import same_shape_gradient
from refnet.nn.module import Module


class Sequential(Module):
    """Apply modules in order: ``y = f_n(... f_2(f_1(x)))`` (PyTorch: ``nn.Sequential``).

    The backward pass is the chain rule written out. With ``h_0 = x`` and
    ``h_k = f_k(h_{k-1})``,

        ∂L/∂h_{k-1} = (∂h_k/∂h_{k-1})ᵀ ∂L/∂h_k,

    and each factor is one child's ``backward``: the children run in reverse order, each
    turning the gradient of its output into the gradient of its input.

    Children are named ``"0"``, ``"1"``, ... (or by the keys of an ``OrderedDict``), so
    ``state_dict`` keys match PyTorch's (``0.weight``, ``2.bias``).

    A child whose ``needs_input_grad`` is ``False`` returns ``None`` from ``backward``; the
    chain stops there and ``backward`` returns ``None`` (the children below it must have
    no trainable parameters, like a ``Flatten`` in front of the first ``Linear``).
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, child in enumerate(modules):
                if not isinstance(child, Module):
                    raise TypeError(
                        f"Sequential: argument {index} is a {type(child).__name__}, not a Module"
                    )
                self.add_module(str(index), child)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, grad_output: Any) -> Any:
        grad = grad_output
        modules = list(self._modules.values())
        for index in range(len(modules) - 1, -1, -1):
            grad = modules[index].backward(grad)
            if grad is None and index > 0:
                return self._stop_below(modules[:index])
        return grad

    def _stop_below(self, below: list[Module]) -> None:
        """A child returned no input gradient (``needs_input_grad = False``): the chain
        ends there, which is right only if nothing below it has a parameter to train."""
        for module in below:
            if any(p.requires_grad for p in module.parameters()):
                raise RuntimeError(
                    f"Sequential: a layer returned no input gradient (needs_input_grad=False) "
                    f"but {module.describe()} below it has trainable parameters"
                )
        return None

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end and return ``self``."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> Sequential: ...

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        if not -len(items) <= index < len(items):
            raise IndexError(
                f"index {index} is out of range for a Sequential of length {len(items)}"
            )
        return items[index][1]


class Residual(Module):
    """A skip connection around a block: ``y = x + block(x)`` (the building unit of a ResNet).

    PyTorch has no such class (a ResNet block writes ``out + identity`` in its
    ``forward``); ``refnet.interop.torch`` converts it to a two-line torch module.

    Backward: x reaches y along two paths, the identity and the block, and the chain
    rule adds their contributions:

        ∂L/∂x = ∂L/∂y + (∂block/∂x)ᵀ ∂L/∂y = g + block.backward(g).

    The identity path passes the gradient through unchanged, however deep the block:
    that is why very deep residual networks still train.

    The block's output must have the input's shape. The block is registered as the child
    ``block``, so ``state_dict`` keys read ``block.0.weight`` for a ``Sequential`` block.
    Caches only the input's shape (the block caches what it needs).
    """

    def __init__(self, block: Module) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: the block must be a Module, got {type(block).__name__}")
        self.block = block
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Any) -> Any:
        out = self.block(x)
        if np.shape(out) != np.shape(x):
            raise ValueError(
                f"Residual: the block must keep the input's shape to be added to it; "
                f"input {np.shape(x)}, block output {np.shape(out)}"
            )
        self._shape = np.shape(x)
        return x + out

    def backward(self, grad_output: Any) -> Any:
        g = same_shape_gradient(self, grad_output, self._saved(self._shape))
        return g + self.block.backward(g)
