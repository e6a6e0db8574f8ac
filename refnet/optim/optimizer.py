"""``Optimizer``: parameter groups, per-parameter state and state dicts, as in ``torch.optim``.

An optimizer holds a list of *parameter groups*, each a dict with a ``"params"`` list and
the hyperparameters for those parameters (``lr``, ``weight_decay``, ...). Schedulers edit
``optimizer.param_groups[i]["lr"]`` between steps, and ``step()`` reads it every time.

Per-parameter state (Adam's moments, SGD's momentum buffer, the step counter) lives in
``optimizer.state[p]``, created on the first step. ``state_dict()`` returns PyTorch's
format, parameters replaced by their position::

    {"state": {0: {"step": 3.0, "exp_avg": array, ...}, 1: {...}},
     "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), ..., "params": [0, 1]}]}

and ``load_state_dict`` puts it back, so a resumed run continues the same trajectory.

The update loops are plain Python over parameters, each a handful of vectorised in-place
NumPy operations on ``p.data``. Temporaries come from scratch buffers owned by the
optimizer (one per dtype and slot, grown to the largest parameter), so a step allocates
nothing. One flat buffer for all parameters was tried and not kept: its gain, within
the noise of a training step (docs/speed.md has the measurement), did not pay for
rebinding ``p.data``/``p.grad`` to views and keeping them valid through ``.to()``,
``load_state_dict`` and new groups.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import Any, ClassVar, TypeAlias

import numpy as np

from refnet._typing import Array
from refnet.nn.parameter import Parameter

ParamsT: TypeAlias = (
    Iterable[Parameter] | Iterable[tuple[str, Parameter]] | Iterable[dict[str, Any]]
)
"""What an optimizer accepts: parameters, ``(name, parameter)`` pairs, or group dicts."""

StateDict: TypeAlias = dict[str, Any]


class Optimizer:
    """Base class of all optimizers (PyTorch: ``torch.optim.Optimizer``).

    ``params`` is an iterable of :class:`Parameter` (e.g. ``model.parameters()``), of
    ``(name, parameter)`` pairs (``model.named_parameters()``), or of dicts, each a
    parameter group with its own options::

        SGD([{"params": model[0].parameters()},
             {"params": model[2].parameters(), "lr": 1e-3}], lr=1e-2, momentum=0.9)

    Options missing from a group take the constructor's values (``defaults``).

    Contract with the layers: an optimizer updates ``p.data`` in place and reads ``p.grad``
    without ever writing it. Parameters with ``requires_grad=False`` are skipped and get
    no state. Differences from PyTorch, all deliberate:

    * ``grad`` is never ``None`` in refnet, so every trainable parameter is updated at
      every step (PyTorch skips parameters whose ``grad`` is ``None``);
    * a parameter listed twice (in one group or across groups) is a ``ValueError``
      (PyTorch only warns for duplicates within a group), and every group's options
      are validated, not only the constructor's;
    * ``state_dict()`` returns copies of the state arrays, so a saved dict does not
      change when training continues; ``load_state_dict`` checks shapes and casts to
      each parameter's dtype;
    * there are no ``foreach``/``fused``/``capturable``/``differentiable`` options:
      refnet always runs PyTorch's single-tensor (``foreach=False``) code path, which is
      also PyTorch's default on CPU.
    """

    #: State entries that hold Python numbers rather than arrays of the parameter's shape.
    _scalar_state: ClassVar[frozenset[str]] = frozenset({"step"})

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self._validate_options(defaults, self._where())
        self.defaults = defaults
        self.state: defaultdict[Parameter, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[tuple[np.dtype[Any], int], Array] = {}

        if isinstance(params, set | frozenset):
            raise TypeError(
                f"{type(self).__name__}: params must be an ordered collection (a list), not a "
                "set: a set's order changes between runs, and with it the state dict's indices"
            )
        if isinstance(params, (Parameter, np.ndarray, dict)):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Parameters or of "
                f"dicts, but got a single {type(params).__name__} (wrap it in a list)"
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Parameters or of "
                f"dicts, got {type(params).__name__}"
            ) from None
        if not groups:
            raise ValueError(f"{type(self).__name__}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)  # type: ignore[arg-type]  # checked there

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing ones from ``defaults``).

        Useful to unfreeze layers during fine-tuning. The dict is copied, not kept.
        """
        where = self._where(len(self.param_groups))
        if not isinstance(param_group, dict):
            raise TypeError(f"{where}param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{where}param_group has no 'params' entry")
        group = dict(param_group)
        params, names = _split_names(group["params"], where)
        group["params"] = params
        if names is not None:
            group["param_names"] = names

        seen: dict[Parameter, int] = {}
        for i, param in enumerate(params):
            if param in seen:
                raise ValueError(
                    f"{where}parameter {i} is the same Parameter as parameter {seen[param]} of "
                    "this group; list each parameter once"
                )
            seen[param] = i
        for j, other in enumerate(self.param_groups):
            for param in other["params"]:
                if param in seen:
                    raise ValueError(
                        f"{where}parameter {seen[param]} already appears in param group {j}; "
                        "some parameters appear in more than one parameter group"
                    )
        if self.param_groups and ("param_names" in group) != (
            "param_names" in self.param_groups[0]
        ):
            raise ValueError(
                f"{where}all parameter groups should be given with names or all without "
                "(named_parameters() versus parameters())"
            )

        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._validate_options(group, where)
        self.param_groups.append(group)

    # ------------------------------------------------------------------ stepping

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zero in place (they accumulate otherwise).

        PyTorch's ``zero_grad()`` sets gradients to ``None`` by default; refnet's gradients
        are always arrays, and zeroing them in place keeps the layers' views valid.
        """
        for group in self.param_groups:
            for param in group["params"]:
                param.zero_grad()

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every trainable parameter once; return ``closure()`` if one is given.

        The closure, as in PyTorch, re-evaluates the model (zero_grad, forward, backward)
        and returns the loss; it runs before the update.
        """
        loss = None if closure is None else closure()
        for group in self.param_groups:
            self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        """Apply this optimizer's update rule to one parameter group."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _update_group()")

    @staticmethod
    def _trainable(group: dict[str, Any]) -> Iterable[Parameter]:
        return [p for p in group["params"] if p.requires_grad]

    def _state_of(
        self, param: Parameter, init: Callable[[Parameter], dict[str, Any]]
    ) -> dict[str, Any]:
        """The state of ``param``, created by ``init`` on first use.

        If the parameter changed dtype since (``model.double()`` after building the
        optimizer), the state arrays follow it; a changed shape is an error.
        """
        state = self.state.get(param)
        if not state:
            state = init(param)
            self.state[param] = state
            return state
        data = param.data
        for key, value in state.items():
            if not isinstance(value, np.ndarray):
                continue
            shape = self._state_shape(param, key)
            if value.shape != shape:
                raise ValueError(
                    f"{type(self).__name__}: the state {key!r} of a parameter has shape "
                    f"{value.shape}, but the parameter (now of shape {data.shape}) needs {shape}"
                )
            if value.dtype != data.dtype:
                state[key] = value.astype(data.dtype)
        return state

    def _state_shape(self, param: Parameter, key: str) -> tuple[int, ...]:
        """The shape of the state array ``key`` of ``param``: the parameter's own, unless
        an optimizer keeps a reduced statistic (Adafactor's row and column factors)."""
        return param.data.shape

    def _scratch_like(self, param: Parameter, slot: int) -> Array:
        """A temporary array shaped like ``param`` (contents undefined), reused across steps.

        Each ``slot`` is a separate buffer, so one update can hold several temporaries.
        """
        data = param.data
        key = (data.dtype, slot)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.size < data.size:
            buffer = np.empty(data.size, dtype=data.dtype)
            self._scratch[key] = buffer
        return buffer[: data.size].reshape(data.shape)

    def _gradient(self, param: Parameter, maximize: bool, weight_decay: float) -> Array:
        """``g = ±∇f(θ) + λθ``: the gradient, negated for ``maximize``, plus L2 weight decay.

        Returns ``param.grad`` itself when there is nothing to add (never write into it),
        otherwise a scratch array (slot 0).
        """
        grad = param.grad
        if not maximize and weight_decay == 0:
            return grad
        g = self._scratch_like(param, 0)
        if weight_decay == 0:
            return np.negative(grad, out=g)
        np.multiply(param.data, weight_decay, out=g)
        if maximize:
            g -= grad
        else:
            g += grad
        return g

    def _decayed_gradient(
        self, param: Parameter, lr: float, weight_decay: float, decoupled: bool, maximize: bool
    ) -> Array:
        """The gradient after weight decay λ, in either of PyTorch's two forms.

        Decoupled (AdamW's): ``θ ← θ (1 − γλ)`` in place, and the gradient is left alone.
        Otherwise L2: ``g = ±∇f(θ) + λθ`` (:meth:`_gradient`).
        """
        if weight_decay != 0 and decoupled:
            param.data *= 1 - lr * weight_decay
            return self._gradient(param, maximize, 0)
        return self._gradient(param, maximize, weight_decay)

    # ------------------------------------------------------------------ state dicts

    def state_dict(self) -> StateDict:
        """The optimizer's state in PyTorch's format, parameters replaced by indices.

        ``{"state": {i: {...}}, "param_groups": [{..., "params": [i, ...]}]}``; indices
        count the parameters of all groups in order. Arrays are copies.
        """
        index: dict[Parameter, int] = {}
        groups = []
        for group in self.param_groups:
            packed = copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            packed["params"] = [index.setdefault(p, len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[param]: copy.deepcopy(entry)
            for param, entry in self.state.items()
            if param in index and entry
        }
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (or PyTorch's, with arrays or CPU tensors).

        Groups are matched by position and must hold as many parameters as before; the
        loaded options replace the current ones (build schedulers first, as in PyTorch,
        or they overwrite the loaded learning rates). Arrays are copied and cast to each
        parameter's dtype. Everything is validated before anything changes.
        """
        saved_groups = self._saved_groups(state_dict)
        by_index = self._parameters_by_index(saved_groups)
        state = self._loaded_state(state_dict["state"], by_index)
        groups = [self._loaded_group(i, g, saved) for i, (g, saved) in self._paired(saved_groups)]
        self._check_complete(state, groups, {id(p): i for i, p in by_index.items()})
        self.state = state
        self.param_groups = groups

    def _saved_groups(self, state_dict: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The loaded ``param_groups``, one for each of this optimizer's groups."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}: a state dict needs 'state' and 'param_groups' entries")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}: loaded state dict has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        return saved_groups

    def _paired(
        self, saved_groups: list[Mapping[str, Any]]
    ) -> Iterable[tuple[int, tuple[dict[str, Any], Mapping[str, Any]]]]:
        """``(i, (group, saved group))`` for the groups matched by position."""
        return enumerate(zip(self.param_groups, saved_groups, strict=True))

    def _parameters_by_index(self, saved_groups: list[Mapping[str, Any]]) -> dict[int, Parameter]:
        """The saved indices mapped to this optimizer's parameters, group by group."""
        by_index: dict[int, Parameter] = {}
        for i, (group, saved) in self._paired(saved_groups):
            saved_params = list(saved["params"])
            if len(saved_params) != len(group["params"]):
                raise ValueError(
                    f"{type(self).__name__}: loaded param group {i} has {len(saved_params)} "
                    f"parameters, the optimizer's group {i} has {len(group['params'])}"
                )
            by_index.update(zip((int(k) for k in saved_params), group["params"], strict=True))
        return by_index

    def _loaded_state(
        self, saved_state: Mapping[Any, Mapping[str, Any]], by_index: Mapping[int, Parameter]
    ) -> defaultdict[Parameter, dict[str, Any]]:
        """Each saved parameter state, its values copied and checked (see _loaded_value)."""
        state: defaultdict[Parameter, dict[str, Any]] = defaultdict(dict)
        for key, entry in saved_state.items():
            index = int(key)
            if index not in by_index:
                raise ValueError(
                    f"{type(self).__name__}: loaded state for parameter {index}, which no "
                    "param group lists"
                )
            param = by_index[index]
            state[param] = {
                k: self._loaded_value(param, index, k, v) for k, v in entry.items() if v is not None
            }
        return state

    def _loaded_group(
        self, i: int, group: Mapping[str, Any], saved: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Group ``i`` with the loaded options (validated) and its own parameters."""
        name = type(self).__name__
        new = copy.deepcopy({k: v for k, v in saved.items() if k != "params"})
        if "betas" in new:
            new["betas"] = tuple(float(b) for b in new["betas"])
        for key, default in self.defaults.items():  # JSON turns tuples into lists
            if isinstance(default, tuple) and isinstance(new.get(key), list):
                new[key] = tuple(new[key])
        missing = sorted(set(self.defaults) - set(new))
        if missing:
            raise ValueError(
                f"{name}: loaded param group {i} lacks the option(s) {', '.join(missing)} "
                f"(is it the state of another optimizer than {name}?)"
            )
        new["params"] = group["params"]
        if "param_names" in group and "param_names" not in new:
            new["param_names"] = group["param_names"]
        self._validate_options(new, f"{name}, loaded param group {i}: ")
        return new

    def _check_complete(
        self,
        state: Mapping[Parameter, dict[str, Any]],
        groups: list[dict[str, Any]],
        index_of: Mapping[int, int],
    ) -> None:
        """Refuse a loaded parameter state that lacks an entry its ``step`` would read."""
        for group in groups:
            for p in group["params"]:
                entries = state.get(p)
                required = self._required_state_of(group, p, entries or {})
                missing = sorted(required - set(entries)) if entries else []
                if missing:
                    raise ValueError(
                        f"{type(self).__name__}: the loaded state of parameter "
                        f"{index_of[id(p)]} lacks {', '.join(missing)}"
                    )

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        """The entries a parameter's state must have once it exists (none by default)."""
        return set()

    def _required_state_of(
        self, group: Mapping[str, Any], param: Parameter, entries: Mapping[str, Any]
    ) -> set[str]:
        """The entries ``param``'s state (``entries``, as loaded) must have: the group's,
        unless they depend on the parameter (Adafactor's factored or full second moment)
        or on the state itself (LBFGS's history, once it has iterated)."""
        return self._required_state(group)

    def _loaded_value(self, param: Parameter, index: int, key: str, value: Any) -> Any:
        if key in self._scalar_state:
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{type(self).__name__}: loaded state {key!r} of parameter {index} must be "
                    f"a number, got {value!r}"
                ) from None
        array = np.array(np.asarray(value), dtype=param.data.dtype)  # a copy; tensors too
        shape = self._state_shape(param, key)
        if array.shape != shape:
            raise ValueError(
                f"{type(self).__name__}: loaded state {key!r} of parameter {index} has shape "
                f"{array.shape}, expected {shape} (the parameter's shape is {param.data.shape})"
            )
        return array

    # ------------------------------------------------------------------ validation, repr

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        """Raise ``ValueError``/``TypeError`` for bad hyperparameters (subclasses extend)."""
        if "lr" in options:
            _check_range(options, "lr", "learning rate", where)

    def _where(self, group: int | None = None) -> str:
        name = type(self).__name__
        return f"{name}: " if group is None else f"{name}, param group {group}: "

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"


class _MomentsOptimizer(Optimizer):
    """The optimizers whose per-parameter state is a step count and zero-initialised
    arrays (Adam, Adamax, NAdam, RAdam, Adadelta): the preamble of their updates, written
    once (:meth:`_begin_step`), and the state entries they need, declared once.

    ``_moments`` names the arrays; ``_initial_scalars`` gives any scalar state besides
    ``step`` with its first value (NAdam's ``mu_product``).
    """

    _moments: ClassVar[tuple[str, ...]] = ()
    _initial_scalars: ClassVar[Mapping[str, float]] = {}

    def _moments_of(self, group: Mapping[str, Any]) -> tuple[str, ...]:
        """The arrays a parameter's state holds under ``group``'s options."""
        return self._moments

    def _fresh_state(self, param: Parameter, group: Mapping[str, Any]) -> dict[str, Any]:
        """The state before the first step: step 0, the scalars, zero arrays."""
        state: dict[str, Any] = {"step": 0.0, **self._initial_scalars}
        state.update((name, np.zeros_like(param.data)) for name in self._moments_of(group))
        return state

    def _required_state(self, group: Mapping[str, Any]) -> set[str]:
        return {"step", *self._initial_scalars, *self._moments_of(group)}

    def _begin_step(
        self, param: Parameter, group: Mapping[str, Any]
    ) -> tuple[dict[str, Any], float, Array]:
        """``(state, t, g)`` for one parameter's update: its state (created on first
        use), counted one step further to ``t``, and the gradient with the group's
        weight decay (decoupled when the group's ``decoupled_weight_decay`` says so) and
        sign (``maximize``)."""
        state = self._state_of(param, lambda p: self._fresh_state(p, group))
        state["step"] += 1
        decoupled = group.get("decoupled_weight_decay", False)
        g = self._decayed_gradient(
            param, group["lr"], group["weight_decay"], decoupled, group["maximize"]
        )
        return state, state["step"], g


class _AdamFamily(_MomentsOptimizer):
    """Adam and its variants: their ``eps``, ``betas`` and ``weight_decay``, validated once."""

    def _validate_options(self, options: Mapping[str, Any], where: str) -> None:
        super()._validate_options(options, where)
        _check_range(options, "eps", "epsilon value", where)
        _check_betas(options, where)
        _check_range(options, "weight_decay", "weight_decay value", where)


def _split_names(params: Any, where: str) -> tuple[list[Parameter], list[str] | None]:
    """Parameters of a group, and their names if given as ``(name, parameter)`` pairs."""
    if isinstance(params, Parameter):
        return [params], None
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{where}parameters must be given in an ordered collection (a list), not a set: "
            "the order of a set changes between runs"
        )
    try:
        entries = list(params)
    except TypeError:
        raise TypeError(
            f"{where}'params' must be a Parameter or an iterable of them, "
            f"got {type(params).__name__}"
        ) from None
    found: list[Parameter] = []
    names: list[str] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
            names.append(entry[0])
            entry = entry[1]
        if not isinstance(entry, Parameter):
            raise TypeError(
                f"{where}optimizer can only optimize Parameters, but parameter {i} is a "
                f"{type(entry).__name__}"
            )
        found.append(entry)
    if names and len(names) != len(found):
        raise ValueError(f"{where}give all parameters with names or none")
    return found, (names if names else None)


def _number(options: Mapping[str, Any], key: str, where: str) -> float:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where}{key} must be a real number, got {type(value).__name__}")
    return float(value)


def _check_range(
    options: Mapping[str, Any],
    key: str,
    what: str,
    where: str,
    *,
    below: float | None = None,
    at_most: float | None = None,
) -> None:
    """Require ``0 <= options[key]`` (and ``< below`` or ``<= at_most``); NaN fails."""
    value = _number(options, key, where)
    if below is not None:
        ok, bound = 0.0 <= value < below, f"0 <= {key} < {below}"
    elif at_most is not None:
        ok, bound = 0.0 <= value <= at_most, f"0 <= {key} <= {at_most}"
    else:
        ok, bound = value >= 0.0, f"{key} >= 0"
    if not ok or math.isinf(value):
        raise ValueError(f"{where}invalid {what}: {value} (expected {bound}, finite)")


def _pair(betas: Any) -> Any:
    """``betas`` as a tuple of floats when it is a pair of numbers (validated later)."""
    if isinstance(betas, (tuple, list)) and len(betas) == 2:
        try:
            return (float(betas[0]), float(betas[1]))
        except (TypeError, ValueError):
            return tuple(betas)
    return betas


def _check_betas(options: Mapping[str, Any], where: str) -> None:
    """Require ``betas`` to be a pair with each value in [0, 1)."""
    betas = options["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"{where}betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        _check_range(
            {f"betas[{i}]": beta}, f"betas[{i}]", f"beta parameter at index {i}", where, below=1.0
        )


def _lerp_(start: Array, end: Array, weight: float, tmp: Array) -> None:
    """``start ← start + weight·(end − start)`` in place, in PyTorch's two forms.

    ``torch.lerp`` evaluates ``end − (end − start)·(1 − weight)`` when ``weight >= 0.5``,
    which is exact at ``weight = 1``; both forms are the same real number.
    """
    np.subtract(end, start, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1.0 - weight
        np.subtract(end, tmp, out=start)


def _update_moments_(
    exp_avg: Array, exp_avg_sq: Array, g: Array, beta1: float, beta2: float, tmp: Array
) -> None:
    """Adam's moment estimates in place: ``m ← β₁ m + (1 − β₁) g`` (as ``torch.lerp``)
    and ``v ← β₂ v + (1 − β₂) g²``."""
    _lerp_(exp_avg, g, 1 - beta1, tmp)
    exp_avg_sq *= beta2
    exp_avg_sq += np.multiply(np.multiply(g, 1 - beta2, out=tmp), g, out=tmp)
