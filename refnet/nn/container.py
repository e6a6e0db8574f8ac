"""``Sequential``: layers applied one after another; its backward is the chain rule."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, overload

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
        for module in reversed(self._modules.values()):
            grad = module.backward(grad)
        return grad

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
