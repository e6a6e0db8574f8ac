"""``Module``: the base class of every layer, loss and container.

A module is a function with a hand-written derivative:

* ``forward(x)`` computes the output and keeps on ``self`` what the derivative needs;
* ``backward(grad_output)`` receives ∂L/∂output and returns ∂L/∂input, and **adds**
  ∂L/∂p into ``p.grad`` for each of its parameters.

Everything else here is bookkeeping that PyTorch users know by name: parameters and
buffers found by attribute assignment, ``parameters()``, ``state_dict()``, ``train()`` /
``eval()``, ``to(dtype)`` and a nested ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from refnet._typing import Array
from refnet.nn.parameter import Parameter

T = TypeVar("T")
M = TypeVar("M", bound="Module")


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match (PyTorch's named tuple)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class for all refnet layers (PyTorch: ``torch.nn.Module``).

    Subclasses call ``super().__init__()`` first, then assign ``Parameter``s, sub-modules
    and buffers (``register_buffer``) as attributes; assignment registers them, in order,
    under the names PyTorch uses, so ``state_dict`` keys (``0.weight``, ``3.bias``,
    ``1.running_mean``) are PyTorch's.

    The calling convention is PyTorch's: ``module(x)`` runs ``forward(x)``. The chain rule
    is explicit: ``module.backward(grad_output)`` returns the gradient with respect to the
    input of the latest ``forward``. It never modifies ``grad_output`` or the cached input
    in place, and raises ``RuntimeError`` if no ``forward`` came first.
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Array | None]
    _non_persistent_buffers: set[str]
    _modules: dict[str, Module]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    # ------------------------------------------------------------------ computation

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the output and cache what ``backward`` needs."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        """Return ∂L/∂input given ∂L/∂output; add parameter gradients into ``p.grad``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _saved(self, value: T | None) -> T:
        """Return a value cached by ``forward``, or fail clearly if there was no forward."""
        if value is None:
            raise RuntimeError(f"{self.describe()}: backward() called before forward()")
        return value

    # ------------------------------------------------------------------ registration

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before {type(self).__name__}.__init__() "
                "called super().__init__()"
            )
        if isinstance(value, Parameter):
            self._unregister(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._unregister(name)
            self._modules[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(a Parameter or None is required)"
                )
            self._parameters[name] = None
        elif name in self._modules:
            raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r}")
        elif name in self._buffers:
            if value is not None and not isinstance(value, np.ndarray):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r}")
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._unregister(name)
        object.__delattr__(self, name)

    def _unregister(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or ``None``, for an absent optional parameter) as ``name``."""
        self._unregister(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, array: Array | None, persistent: bool = True) -> None:
        """Register a non-trainable array (e.g. running statistics) saved in ``state_dict``."""
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"buffer {name!r} must be a NumPy array or None")
        self._unregister(name)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, array)

    def add_module(self, name: str, module: Module) -> None:
        """Register ``module`` as a child called ``name``."""
        if not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        setattr(self, name, module)

    # ------------------------------------------------------------------ traversal

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in registration order."""
        for _, module in self.named_children():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` pairs of the direct sub-modules."""
        yield from self._modules.items()

    def modules(self) -> Iterator[Module]:
        """This module and all below it, depth first, each once."""
        for _, module in self.named_modules():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (_join(name, child_name), child) for child_name, child in module._modules.items()
            ]
            stack.extend(reversed(children))

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (with ``recurse``, the sub-modules' too), each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, each parameter once, in registration order."""
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield _join(module_name, name), param

    def buffers(self, recurse: bool = True) -> Iterator[Array]:
        """Every registered buffer (running statistics and the like)."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Array]]:
        """``(name, buffer)`` pairs, names as in ``state_dict``."""
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for module_name, module in modules:
            for name, buffer in module._buffers.items():
                if buffer is not None:
                    yield _join(module_name, name), buffer

    def apply(self: M, fn: Callable[[Module], None]) -> M:
        """Call ``fn`` on every sub-module (children first) and on ``self``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and dtypes

    def train(self: M, mode: bool = True) -> M:
        """Set training mode (dropout active, batch statistics) here and below."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self: M) -> M:
        """Set evaluation mode; the same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Reset every parameter's gradient to zero (they accumulate otherwise)."""
        for param in self.parameters():
            param.zero_grad()

    def to(self: M, dtype: npt.DTypeLike) -> M:
        """Convert parameters, their gradients and floating buffers to ``dtype``, in place.

        Build the optimizer after converting, as in PyTorch: the optimizer keeps the
        parameters, and converting replaces their arrays.
        """
        target = np.dtype(dtype)
        if not np.issubdtype(target, np.floating):
            raise TypeError(f"to() expects a floating dtype, got {target}")
        for module in self.modules():
            for param in module._parameters.values():
                if param is not None:
                    param.astype(target)
            for name, buffer in module._buffers.items():
                if buffer is not None and np.issubdtype(buffer.dtype, np.floating):
                    setattr(module, name, buffer.astype(target, copy=False))
        return self

    def float(self: M) -> M:
        """Convert to float32 (PyTorch's ``module.float()``)."""
        return self.to(np.float32)

    def double(self: M) -> M:
        """Convert to float64 (PyTorch's ``module.double()``), e.g. for gradient checks."""
        return self.to(np.float64)

    # ------------------------------------------------------------------ state

    def state_dict(self, prefix: str = "") -> dict[str, Array]:
        """Copies of all parameters and persistent buffers, under PyTorch's key names.

        Unlike PyTorch, the arrays are copies: a state dict kept as "the best model so
        far" does not change when training continues.
        """
        state: dict[str, Array] = {}
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is not None:
                    state[_join(module_name, name)] = param.data.copy()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[_join(module_name, name)] = buffer.copy()
        return state

    def _state_targets(self) -> dict[str, Array]:
        """The live arrays that ``load_state_dict`` writes into, by key."""
        targets: dict[str, Array] = {}
        for module_name, module in self.named_modules():
            for name, param in module._parameters.items():
                if param is not None:
                    targets[_join(module_name, name)] = param.data
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    targets[_join(module_name, name)] = buffer
        return targets

    def load_state_dict(
        self, state_dict: Mapping[str, npt.ArrayLike], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values are copied in place (cast to each parameter's dtype), so optimizers that
        hold the parameters keep working. Everything is validated before anything is
        written: on any error the module is unchanged. With ``strict=True`` missing or
        unexpected keys are errors; shapes must always match.
        """
        targets = self._state_targets()
        values = {key: np.asarray(value) for key, value in state_dict.items()}
        missing = [key for key in targets if key not in values]
        unexpected = [key for key in values if key not in targets]
        problems = [
            f"size mismatch for {key}: copying an array of shape {values[key].shape}, "
            f"the shape in the current model is {target.shape}"
            for key, target in targets.items()
            if key in values and values[key].shape != target.shape
        ]
        if strict and missing:
            problems.insert(0, f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            problems.insert(0, f"unexpected key(s): {', '.join(unexpected)}")
        if problems:
            raise ValueError(
                f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for key, target in targets.items():
            if key in values:
                target[...] = values[key]
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ repr

    def extra_repr(self) -> str:
        """The arguments shown inside this module's ``repr`` parentheses."""
        return ""

    def describe(self) -> str:
        """One-line name for error messages, e.g. ``Linear(in_features=3, ...)``."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def __repr__(self) -> str:
        lines = [f"({name}): {_indent(repr(module))}" for name, module in self._modules.items()]
        if not lines:
            return self.describe()
        extra = self.extra_repr()
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
