"""``Module``: the base class of every layer, loss and container.

A module is a function with a hand-written derivative:

* ``forward(x)`` computes the output and keeps on ``self`` what the derivative needs;
* ``backward(grad_output)`` receives ∂L/∂output and returns ∂L/∂input, and **adds**
  ∂L/∂p into ``p.grad`` for each of its parameters.

The base class keeps every forward's cache until its backward consumes it (the call
records below), so one module may be called several times before the backward passes.
Everything else here is bookkeeping that PyTorch users know by name: parameters and
buffers found by attribute assignment, ``parameters()``, ``state_dict()``, ``train()`` /
``eval()``, ``to(dtype)`` and a nested ``repr``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from refnet._typing import Array
from refnet.grad_mode import is_grad_enabled
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

    **Forward and backward.** The calling convention is PyTorch's: ``module(x)`` runs
    ``forward(x)``, which caches on ``self`` what the derivative needs. The chain rule is
    explicit: ``module.backward(grad_output)`` returns the gradient with respect to the
    input and **adds** each parameter's gradient into ``p.grad``. It never modifies
    ``grad_output`` or the cached input in place.

    **Several inputs and outputs.** ``forward`` keeps PyTorch's signature
    (``lstm(x, hx) -> (output, (h_n, c_n))``, ``mha(q, k, v) -> (out, weights)``), and
    ``backward`` mirrors it:

    * it takes one gradient per output of ``forward``, positionally and in the output's
      structure: ``lstm.backward(grad_output, (grad_h_n, grad_c_n))``; ``None`` stands for
      an output the loss does not use (zeros, whose work the module may skip);
    * it returns one gradient per differentiable array input, in ``forward``'s order: a
      tuple ``(grad_query, grad_key, grad_value)`` when there are several, one array when
      there is one. An optional input the caller left out (``hx=None``) has no slot, and
      masks, indices and lengths have none;
    * when one array feeds several inputs (self-attention ``mha(x, x, x)``), every slot is
      still returned and the caller adds them: the chain rule sums over the paths.

    **One module, several calls.** Each forward's cache is kept in a *call record* until
    a backward consumes it, and backward calls take the records in reverse order (last
    call first), as the chain rule walks the calls back. So a layer applied twice
    (``Sequential(lin, Tanh(), lin)``), a pooling layer shared by two places, and a cell
    stepped in a Python loop (``for t in range(T): h = cell(x[t], h)``) backpropagate
    correctly. A backward with no forward left to match fails with ``RuntimeError``
    (before any forward, and once every call has had its backward: like PyTorch, which
    refuses to backpropagate through a graph twice).

    **Memory.** A forward nobody backpropagates must not hold memory for ever, so:

    * under ``refnet.no_grad()`` a forward keeps no cache for a backward (evaluation,
      inference): its values stay on the module as one call's worth, none is queued;
    * in ``eval()`` mode a module keeps only its latest call, as if each forward replaced
      the one before: an evaluation loop stays flat even without ``no_grad()``. A backward
      that would need a replaced call fails clearly; to backpropagate a module called
      several times, keep it in training mode.

    The records are the attributes a ``forward`` assigns on ``self`` (``self._x = x``;
    ``__setattr__`` notes their names while a forward runs), so a subclass writes an
    ordinary ``forward`` and ``backward`` and gets this for free. A forward must not
    change a cached array in place that an earlier call may still need.
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
        _reset_call_records(self)

    def __init_subclass__(cls, records: bool = True, **kwargs: Any) -> None:
        """Wrap each subclass's own ``forward`` and ``backward`` in the call records.

        ``class Holder(Module, records=False)`` opts out, for a class whose forward and
        backward only raise (the containers that hold modules for their owner).
        """
        super().__init_subclass__(**kwargs)
        if not records:
            return
        if "forward" in cls.__dict__:
            cls.forward = _recorded_forward(cls.__dict__["forward"])  # type: ignore[method-assign]
        if "backward" in cls.__dict__:
            cls.backward = _recorded_backward(cls.__dict__["backward"])  # type: ignore[method-assign]

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

    def _awaits_backward(self) -> bool:
        """Whether an earlier forward's cache still waits for its backward.

        A forward that would reuse the previous call's memory (``Conv2d``'s column
        matrix) may do so only when this is ``False``.
        """
        return bool(self.__dict__["_calls"])

    # ------------------------------------------------------------------ registration

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"cannot assign {name!r} before {type(self).__name__}.__init__() "
                "called super().__init__()"
            )
        if isinstance(value, Parameter):
            if name not in self._parameters:  # a replacement keeps its place in the order
                self._unregister(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            if name not in self._modules:
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
        elif self.__dict__.get("_in_forward") and name not in self.__dict__["_cache_names"]:
            _first_assignment(self, name)
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
        if name not in self._parameters:
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

    def named_modules(
        self, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first; a module reached twice is listed once
        unless ``remove_duplicate=False`` (then under each of its names, as ``state_dict``
        needs)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
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

    def to(self: M, *args: Any, dtype: npt.DTypeLike | None = None) -> M:
        """Convert parameters, their gradients and floating buffers to ``dtype``, in place.

        As PyTorch's ``module.to(...)``: ``to(np.float64)``, ``to(dtype=np.float64)``,
        and a device, ``to("cpu")`` or ``to("cpu", np.float64)``: refnet computes on the
        CPU, so ``"cpu"`` changes nothing and any other device is refused.

        Build the optimizer after converting, as in PyTorch: the optimizer keeps the
        parameters, and converting replaces their arrays.
        """
        for arg in args:
            if _is_device(arg):
                continue
            if dtype is not None:
                raise TypeError(f"to() got two dtypes: {dtype!r} and {arg!r}")
            dtype = arg
        if dtype is None:
            return self
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
        far" does not change when training continues. A parameter or module reached under
        two names (tied weights, a shared layer) is saved under both, as in PyTorch, and
        ``load_state_dict`` writes into the one array under each, so the tie survives.
        """
        state: dict[str, Array] = {}
        for module_name, module in self.named_modules(prefix, remove_duplicate=False):
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
        for module_name, module in self.named_modules(remove_duplicate=False):
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
        hold the parameters keep working. Everything is validated and cast before
        anything is written: on any error the module is unchanged. With ``strict=True``
        missing or unexpected keys are errors; shapes must always match, and a cast that
        would lose information is refused with the key named: complex into real,
        non-numeric values, finite values that overflow the dtype (1e300 into float32),
        fractions or out-of-range values into an integer buffer.
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
        cast: dict[str, Array] = {}
        for key, target in targets.items():
            if key in values and values[key].shape == target.shape:
                converted, problem = _lossless_cast(key, values[key], target.dtype)
                if problem:
                    problems.append(problem)
                else:
                    cast[key] = converted
        if strict and missing:
            problems.insert(0, f"missing key(s): {', '.join(missing)}")
        if strict and unexpected:
            problems.insert(0, f"unexpected key(s): {', '.join(unexpected)}")
        if problems:
            raise ValueError(
                f"error(s) in loading state_dict for {type(self).__name__}:\n  "
                + "\n  ".join(problems)
            )
        for key, converted in cast.items():
            targets[key][...] = converted
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


# ---------------------------------------------------------------------- call records
#
# A record holds the values a forward assigned on the module (its cache). Forward pushes
# one, backward restores and pops the latest. The records' own bookkeeping (``_calls``,
# ``_cache_names``, ``_in_forward``, ``_in_backward``, ``_no_record``) is written into
# the instance's ``__dict__`` directly, so ``__setattr__`` never counts it as cache.

_BEFORE_ANY_FORWARD = "backward() called before forward()"
_ALL_CONSUMED = (
    "backward() called more times than forward(): each forward's cache serves one "
    "backward (call forward again)"
)
_NO_GRAD = "backward() after a forward under refnet.no_grad(), which keeps no cache for a backward"
_REPLACED = (
    "backward() for a call that a later forward replaced: in eval() mode a module keeps "
    "only its latest call; keep it in train() mode to backpropagate several calls"
)


#: A forward's record: its cache values, the cache names it did not assign, and the
#: dtypes of its outputs (mirroring their structure), which its gradients must have.
_Call = tuple[dict[str, Any], list[str], Any]


def _dtypes(out: Any) -> Any:
    """The dtype of each array in a (nested) output, None for anything else."""
    if isinstance(out, np.ndarray):
        return out.dtype
    if isinstance(out, tuple):
        return tuple(_dtypes(item) for item in out)
    return None


def _check_gradient_dtypes(module: Module, grads: tuple[Any, ...], dtypes: Any) -> None:
    """The gradient of a floating output must have that output's dtype. An integer one
    has no meaning; one of another float dtype torch's autograd casts, and refnet refuses,
    as it refuses an input of another dtype than the parameters: a float64 gradient into a
    float32 layer would turn everything below it float64."""
    expected = dtypes if isinstance(dtypes, tuple) else (dtypes,)
    for grad, dtype in zip(grads, expected, strict=False):
        if isinstance(grad, tuple) and isinstance(dtype, tuple):
            _check_gradient_dtypes(module, grad, dtype)
        elif (
            isinstance(grad, np.ndarray)
            and isinstance(dtype, np.dtype)
            and np.issubdtype(dtype, np.floating)
            and grad.dtype != dtype
        ):
            raise TypeError(_gradient_dtype_message(module, grad.dtype, dtype))


def _gradient_dtype_message(module: Module, got: np.dtype[Any], expected: np.dtype[Any]) -> str:
    if not np.issubdtype(got, np.floating):
        return (
            f"{module.describe()}: backward() expects a floating-point gradient, got dtype "
            f"{got} (convert with g.astype(np.{expected}))"
        )
    return (
        f"{module.describe()}: backward() got a gradient of dtype {got} for an output of "
        f"dtype {expected}; convert it (g.astype(np.{expected}))"
    )


def _reset_call_records(module: Module) -> None:
    """No forward waits for a backward (a new module, or after ``load_state_dict``)."""
    state = module.__dict__
    state["_calls"] = []
    state["_cache_names"] = set()
    state["_in_forward"] = False
    state["_in_backward"] = False
    state["_no_record"] = _BEFORE_ANY_FORWARD


def _recorded_forward(forward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(forward)
    def recorded(self: Module, *args: Any, **kwargs: Any) -> Any:
        state = self.__dict__
        if state["_in_forward"]:  # super().forward(...) inside a subclass's forward
            return forward(self, *args, **kwargs)
        state["_in_forward"] = True  # Module.__setattr__ now notes each name assigned
        try:
            out = forward(self, *args, **kwargs)
        finally:
            state["_in_forward"] = False
        _record(self, out)
        return out

    return recorded


def _recorded_backward(backward: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(backward)
    def recorded(self: Module, *args: Any, **kwargs: Any) -> Any:
        state = self.__dict__
        if state["_in_backward"]:  # super().backward(...) inside a subclass's backward
            return backward(self, *args, **kwargs)
        calls: list[_Call] = state["_calls"]
        if not calls:
            raise RuntimeError(f"{self.describe()}: {state['_no_record']}")
        values, absent, output_dtypes = calls[-1]
        _check_gradient_dtypes(self, args, output_dtypes)
        mode = self.training
        state.update(values)
        for name in absent:
            state.pop(name, None)
        state["_in_backward"] = True
        try:
            result = backward(self, *args, **kwargs)
        finally:
            state["_in_backward"] = False
            state["training"] = mode
        calls.pop()  # only now: a backward that failed (a wrong gradient) can be retried
        return result

    return recorded


def _first_assignment(module: Module, name: str) -> None:
    """A forward assigns ``name`` for the first time: it is part of the cache from now on.

    Calls that wait for their backward did not assign it; for them its value is the one
    it has now, just before this assignment.
    """
    state = module.__dict__
    state["_cache_names"].add(name)
    for values, absent, _ in state["_calls"]:
        if name in state:
            values[name] = state[name]
        else:
            absent.append(name)


def _record(module: Module, out: Any) -> None:
    """Push the forward's cache as a record (under ``no_grad``, none).

    A forward that fails pushes nothing, and neither does one under ``no_grad``: its
    values stay on the module (one call's worth, as memory goes) but no backward can
    use them, and a waiting call's backward restores its own record first.
    """
    state = module.__dict__
    calls: list[_Call] = state["_calls"]
    if not is_grad_enabled():
        if not calls:
            state["_no_record"] = _NO_GRAD
        return
    if not calls:
        state["_no_record"] = _ALL_CONSUMED  # what an extra backward will be told
    elif not module.training:
        calls.clear()
        state["_no_record"] = _REPLACED
    cache_names: set[str] = state["_cache_names"]
    values = {name: state[name] for name in cache_names if name in state}
    absent = [] if len(values) == len(cache_names) else list(cache_names - values.keys())
    values["training"] = module.training
    calls.append((values, absent, _dtypes(out)))


def _lossless_cast(key: str, value: Array, dtype: np.dtype[Any]) -> tuple[Array, str]:
    """``value`` as ``dtype``, or a message saying why that cast would lose information."""
    kind = value.dtype.kind
    if kind not in "biufc":
        return value, f"{key}: cannot load values of dtype {value.dtype} into {dtype}"
    with np.errstate(all="ignore"):
        converted = value.astype(dtype)
        if kind == "c" and dtype.kind != "c":
            why = "it drops the imaginary part"
        elif dtype.kind in "iub" and not np.array_equal(converted, value):
            why = "not whole numbers in range"
        elif dtype.kind == "f" and np.any(np.isinf(converted) & np.isfinite(value)):
            why = "they overflow to inf"
        else:
            return converted, ""
    return value, f"{key}: refusing to cast {value.dtype} values to {dtype} ({why})"


_DEVICES = ("cuda", "mps", "xpu", "meta", "hip", "xla", "vulkan", "hpu", "mtia", "ipu")


def _is_device(value: object) -> bool:
    """``True`` for ``"cpu"`` (or ``"cpu:0"``); a ValueError for another device's name."""
    if not isinstance(value, str):
        return False
    kind = value.split(":")[0].lower()
    if kind == "cpu":
        return True
    if kind in _DEVICES:
        raise ValueError(f"to({value!r}): refnet computes with NumPy on the CPU; use 'cpu'")
    return False


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")
