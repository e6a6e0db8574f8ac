"""Containers (PyTorch's names, semantics and ``state_dict`` keys).

* ``Sequential``: layers applied one after another; its backward is the chain rule.
* ``Residual``: a skip connection ``x + block(x)``, whose backward adds the two paths.
* ``ModuleList``, ``ModuleDict``, ``ParameterList``, ``ParameterDict``: hold sub-modules
  or parameters for a user's own ``Module``, which calls them in its ``forward`` and
  ``backward``; they have no forward of their own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from refnet.nn._validation import same_shape_gradient
from refnet.nn.module import Module
from refnet.nn.parameter import Parameter

V = TypeVar("V")


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

    # --8<-- [start:sequential-backward]
    def backward(self, grad_output: Any) -> Any:
        grad = grad_output
        modules = list(self._modules.values())
        for index in range(len(modules) - 1, -1, -1):
            grad = modules[index].backward(grad)
            if grad is None and index > 0:
                return self._stop_below(modules[:index])
        return grad

    # --8<-- [end:sequential-backward]

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

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Append each of ``modules`` in turn and return ``self``."""
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index``; the children are renumbered."""
        _require_module(self, module)
        children = list(self._modules.values())
        children.insert(_insertion_point(self, index, len(children)), module)
        _renumber(self, children)
        return self

    def pop(self, index: int | slice) -> Module | Sequential:
        """Remove the child (or the slice of children) at ``index`` and return it."""
        taken = self[index]
        del self[index]
        return taken

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
        return items[_position(self, index, len(items))][1]

    def __setitem__(self, index: int, module: Module) -> None:
        _require_module(self, module)
        keys = list(self._modules)
        setattr(self, keys[_position(self, index, len(keys))], module)

    def __delitem__(self, index: int | slice) -> None:
        children = list(self._modules.values())
        if isinstance(index, slice):
            del children[index]
        else:
            del children[_position(self, index, len(children))]
        _renumber(self, children)

    def __add__(self, other: Sequential) -> Sequential:
        """A new ``Sequential`` of this one's children, then ``other``'s (the same objects)."""
        if not isinstance(other, Sequential):
            return NotImplemented
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            return NotImplemented
        return self.extend(other)

    def __mul__(self, times: int) -> Sequential:
        """The children repeated ``times`` times (the same objects, as in PyTorch)."""
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ValueError(
                f"Sequential: can only repeat a positive int number of times, got {times!r}"
            )
        return Sequential(*(list(self) * times))

    __rmul__ = __mul__


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


# ---------------------------------------------------------------------- holders


def _require_module(container: Module, module: object) -> None:
    if not isinstance(module, Module):
        raise TypeError(f"{type(container).__name__}: {type(module).__name__} is not a Module")


def _position(container: Module, index: int, length: int) -> int:
    """``index`` as a position in ``range(length)``, negative indices counted from the end."""
    if not isinstance(index, int) or isinstance(index, bool):
        raise TypeError(
            f"{type(container).__name__} indices must be integers or slices, "
            f"not {type(index).__name__}"
        )
    if not -length <= index < length:
        raise IndexError(
            f"index {index} is out of range for a {type(container).__name__} of length {length}"
        )
    return index % length


def _insertion_point(container: Module, index: int, length: int) -> int:
    """Where ``list.insert`` puts it, but out-of-range positions are errors (PyTorch's)."""
    if not -length <= index <= length:
        raise IndexError(f"{type(container).__name__}.insert: index {index} is out of range")
    return index + length if index < 0 else index


def _renumber(container: Module, children: list[Module]) -> None:
    """Register ``children`` as ``"0"``, ``"1"``, ... in order (after a delete or insert)."""
    for name in list(container._modules):
        delattr(container, name)
    for index, child in enumerate(children):
        container.add_module(str(index), child)


class _Holder(Module, records=False):
    """A container without a computation: its owner calls the children it holds."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(): call the modules it holds from your "
            "own Module's forward (and their backward, in reverse, from its backward)"
        )

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} has no backward(): call the backward of the modules it "
            "holds from your own Module's backward"
        )


class ModuleList(_Holder):
    """A list of sub-modules, registered as ``"0"``, ``"1"``, ... (PyTorch: ``nn.ModuleList``).

    It holds the layers of a model whose ``forward`` loops over them: a Transformer's
    blocks, a stack of recurrent layers. Its owner's ``backward`` walks them in reverse:

    >>> import refnet.nn as nn
    >>> blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
    >>> blocks.append(nn.ReLU())[3]
    ReLU()
    >>> sorted(blocks.state_dict())[:2]
    ['0.bias', '0.weight']
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end and return ``self``."""
        _require_module(self, module)
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each of ``modules`` in turn and return ``self``."""
        for module in list(modules):
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index``; the modules are renumbered."""
        _require_module(self, module)
        children = list(self._modules.values())
        children.insert(_insertion_point(self, index, len(children)), module)
        _renumber(self, children)

    def pop(self, index: int | slice = -1) -> Module | ModuleList:
        """Remove the module (or slice) at ``index`` and return it."""
        taken = self[index]
        del self[index]
        return taken

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(list(self._modules.values()))

    @overload
    def __getitem__(self, index: int) -> Module: ...

    @overload
    def __getitem__(self, index: slice) -> ModuleList: ...

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        children = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(children[index])
        return children[_position(self, index, len(children))]

    def __setitem__(self, index: int, module: Module) -> None:
        _require_module(self, module)
        setattr(self, str(_position(self, index, len(self))), module)

    def __delitem__(self, index: int | slice) -> None:
        children = list(self._modules.values())
        if isinstance(index, slice):
            del children[index]
        else:
            del children[_position(self, index, len(children))]
        _renumber(self, children)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def __iadd__(self, other: Iterable[Module]) -> ModuleList:
        return self.extend(other)

    def __repr__(self) -> str:
        """PyTorch's: runs of equal children are folded into ``(0-2): 3 x Linear(...)``."""
        runs: list[tuple[int, int, str]] = []
        for index, child in enumerate(self._modules.values()):
            text = repr(child)
            if runs and runs[-1][2] == text:
                runs[-1] = (runs[-1][0], index, text)
            else:
                runs.append((index, index, text))
        if not runs:
            return "ModuleList()"
        lines = [
            f"({first}): {_indent_text(text)}"
            if first == last
            else f"({first}-{last}): {last - first + 1} x {_indent_text(text)}"
            for first, last, text in runs
        ]
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class _ByName(_Holder, Generic[V], records=False):
    """Dict-like access by name to one of a module's registries (children or parameters)."""

    _registry: str  # "_modules" or "_parameters"

    def _store(self) -> dict[str, V | None]:
        store: dict[str, V | None] = self.__dict__[self._registry]
        return store

    def __getitem__(self, key: str) -> V:
        value = self._store().get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __delitem__(self, key: str) -> None:
        if key not in self._store():
            raise KeyError(key)
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._store())

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._store()))

    def __contains__(self, key: object) -> bool:
        return key in self._store()

    def keys(self) -> list[str]:
        """The names, in insertion order."""
        return list(self._store())

    def values(self) -> list[V]:
        """The entries, in insertion order."""
        return [self[key] for key in self._store()]

    def items(self) -> list[tuple[str, V]]:
        """``(name, entry)`` pairs, in insertion order."""
        return [(key, self[key]) for key in self._store()]

    def get(self, key: str, default: V | None = None) -> V | None:
        """The entry called ``key``, or ``default``."""
        value = self._store().get(key)
        return default if value is None else value

    def pop(self, key: str) -> V:
        """Remove the entry called ``key`` and return it."""
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        """Remove every entry."""
        for key in list(self._store()):
            delattr(self, key)

    def update(self, entries: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add or replace entries from a mapping or from ``(name, value)`` pairs."""
        pairs = entries.items() if isinstance(entries, Mapping | _ByName) else entries
        for key, value in list(pairs):
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        raise NotImplementedError


class ModuleDict(_ByName[Module]):
    """Sub-modules by name, in insertion order (PyTorch: ``nn.ModuleDict``).

    ``state_dict`` keys start with each module's name (``encoder.weight``).
    """

    _registry = "_modules"

    def __init__(
        self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        _require_module(self, module)
        self.add_module(_checked_key(self, key), module)


def _checked_key(container: Module, key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(
            f"{type(container).__name__} keys must be strings, got {type(key).__name__}"
        )
    if not key or "." in key:
        raise KeyError(
            f"{type(container).__name__}: a key must be a non-empty name without '.', got {key!r}"
        )
    return key


def _as_parameter(container: Module, value: Parameter | npt.ArrayLike) -> Parameter:
    """A ``Parameter`` stays itself (so it can be shared); an array becomes one."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Module):
        raise TypeError(f"{type(container).__name__} holds parameters, not modules")
    return Parameter(value)


def _parameter_repr(name: str, param: Parameter) -> str:
    return (
        f"({name}): Parameter containing: [{param.dtype} of size {'x'.join(map(str, param.shape))}]"
    )


class ParameterList(_Holder):
    """A list of parameters, registered as ``"0"``, ``"1"``, ... (PyTorch: ``nn.ParameterList``).

    Arrays are wrapped in a ``Parameter``; a ``Parameter`` is kept as it is, so one can be
    shared with another module.
    """

    def __init__(self, values: Iterable[Parameter | npt.ArrayLike] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value: Parameter | npt.ArrayLike) -> ParameterList:
        """Add a parameter at the end and return ``self``."""
        self.register_parameter(str(len(self)), _as_parameter(self, value))
        return self

    def extend(self, values: Iterable[Parameter | npt.ArrayLike]) -> ParameterList:
        """Append each value in turn and return ``self``."""
        for value in list(values):
            self.append(value)
        return self

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter([p for p in self._parameters.values() if p is not None])

    @overload
    def __getitem__(self, index: int) -> Parameter: ...

    @overload
    def __getitem__(self, index: slice) -> ParameterList: ...

    def __getitem__(self, index: int | slice) -> Parameter | ParameterList:
        values = list(self)
        if isinstance(index, slice):
            return ParameterList(values[index])
        return values[_position(self, index, len(values))]

    def __setitem__(self, index: int, value: Parameter | npt.ArrayLike) -> None:
        name = str(_position(self, index, len(self)))
        self.register_parameter(name, _as_parameter(self, value))

    def __iadd__(self, values: Iterable[Parameter | npt.ArrayLike]) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        return "\n".join(
            _parameter_repr(name, p) for name, p in self._parameters.items() if p is not None
        )

    def __repr__(self) -> str:
        return _holder_repr(self)


class ParameterDict(_ByName[Parameter]):
    """Parameters by name, in insertion order (PyTorch: ``nn.ParameterDict``)."""

    _registry = "_parameters"

    def __init__(
        self,
        parameters: Mapping[str, Parameter | npt.ArrayLike]
        | Iterable[tuple[str, Parameter | npt.ArrayLike]]
        | None = None,
    ) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key: str, value: Parameter | npt.ArrayLike) -> None:
        self.register_parameter(_checked_key(self, key), _as_parameter(self, value))

    def extra_repr(self) -> str:
        return "\n".join(
            _parameter_repr(name, p) for name, p in self._parameters.items() if p is not None
        )

    def __repr__(self) -> str:
        return _holder_repr(self)


def _holder_repr(holder: Module) -> str:
    body = holder.extra_repr()
    if not body:
        return f"{type(holder).__name__}()"
    return f"{type(holder).__name__}(\n  " + body.replace("\n", "\n  ") + "\n)"


def _indent_text(text: str) -> str:
    return text.replace("\n", "\n  ")
