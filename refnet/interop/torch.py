"""Convert refnet modules to ``torch.nn`` modules and back, weights included.

refnet uses PyTorch's class names, constructor arguments and ``state_dict`` keys, so
most conversions are generic: find the class of the same name on the other side, pass
every constructor argument that the source module keeps as an attribute of the same
name, and copy the state dict. Modules whose attributes differ register a converter
with :func:`register_to_torch` / :func:`register_from_torch`.

Requires the ``bench`` extra (``torch``); importing :mod:`refnet` never imports torch.

>>> import refnet.nn as nn
>>> from refnet.interop.torch import to_torch
>>> to_torch(nn.Sequential(nn.Linear(4, 2), nn.ReLU()))  # doctest: +SKIP
Sequential(
  (0): Linear(in_features=4, out_features=2, bias=True)
  (1): ReLU()
)
"""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import refnet.nn as rnn
from refnet._typing import Array
from refnet.nn.parameter import Parameter

ToTorch = Callable[[rnn.Module], torch.nn.Module]
FromTorch = Callable[[torch.nn.Module], rnn.Module]

_TO_TORCH: dict[type[rnn.Module], ToTorch] = {}
_FROM_TORCH: dict[type[torch.nn.Module], FromTorch] = {}
_SKIPPED_ARGUMENTS = {"self", "device", "dtype", "inplace", "generator"}

_TORCH_DTYPES = {
    np.dtype(np.float16): torch.float16,
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}


def register_to_torch(cls: type[rnn.Module]) -> Callable[[ToTorch], ToTorch]:
    """Decorator: use the decorated function to convert instances of ``cls`` to torch."""

    def decorate(fn: ToTorch) -> ToTorch:
        _TO_TORCH[cls] = fn
        return fn

    return decorate


def register_from_torch(cls: type[torch.nn.Module]) -> Callable[[FromTorch], FromTorch]:
    """Decorator: use the decorated function to convert torch modules of ``cls``."""

    def decorate(fn: FromTorch) -> FromTorch:
        _FROM_TORCH[cls] = fn
        return fn

    return decorate


def to_tensor(array: Array) -> torch.Tensor:
    """A torch tensor with a copy of ``array``'s values and its dtype."""
    return torch.from_numpy(np.array(array, copy=True))


def to_array(tensor: torch.Tensor) -> Array:
    """A NumPy copy of ``tensor`` (detached from autograd)."""
    return np.array(tensor.detach().cpu().numpy(), copy=True)


def _argument(value: Any, name: str) -> Any:
    """Translate an attribute value for the other library's constructor."""
    if name == "bias" and (value is None or isinstance(value, (Parameter, torch.Tensor))):
        return value is not None
    if isinstance(value, np.ndarray):
        return to_tensor(value)
    if isinstance(value, torch.Tensor):
        return to_array(value)
    return value


def _constructor_arguments(source: object, target_cls: type[Any]) -> dict[str, Any]:
    """Arguments of ``target_cls.__init__`` that ``source`` keeps as attributes."""
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(target_cls.__init__).parameters.items():
        if name in _SKIPPED_ARGUMENTS or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if hasattr(source, name):
            kwargs[name] = _argument(getattr(source, name), name)
    return kwargs


def _parameter_dtype(module: rnn.Module) -> np.dtype[Any] | None:
    for param in module.parameters():
        return param.dtype
    for buffer in module.buffers():
        if np.issubdtype(buffer.dtype, np.floating):
            return buffer.dtype
    return None


def to_torch(module: rnn.Module) -> torch.nn.Module:
    """A ``torch.nn`` module computing the same function, with copies of the weights.

    The torch module gets refnet's dtype and training mode.
    """
    converter = _TO_TORCH.get(type(module), _generic_to_torch)
    result = converter(module)
    dtype = _parameter_dtype(module)
    if dtype is not None:
        result = result.to(_TORCH_DTYPES[np.dtype(dtype)])
    state = {key: to_tensor(value) for key, value in module.state_dict().items()}
    result.load_state_dict(state, strict=True)
    _tie_torch(result, _shared_names(module))
    return result.train(module.training)


def _shared_names(module: rnn.Module) -> list[list[str]]:
    """Groups of names that reach one refnet ``Parameter`` (tied weights), in order."""
    by_id: dict[int, list[str]] = {}
    for module_name, owner in module.named_modules():
        for name, param in owner._parameters.items():
            if param is not None:
                key = f"{module_name}.{name}" if module_name else name
                by_id.setdefault(id(param), []).append(key)
    return [names for names in by_id.values() if len(names) > 1]


def _split(name: str) -> tuple[str, str]:
    owner, _, leaf = name.rpartition(".")
    return owner, leaf


def _tie_torch(result: torch.nn.Module, groups: list[list[str]]) -> None:
    """Make every name of a group refer to the first name's torch parameter."""
    for first, *others in groups:
        shared = result.get_parameter(first)
        for name in others:
            owner, leaf = _split(name)
            setattr(result.get_submodule(owner), leaf, shared)


def _tie_refnet(result: rnn.Module, groups: list[list[str]]) -> None:
    """The same on the refnet side: one ``Parameter`` under every name of a group."""
    modules = dict(result.named_modules())
    for first, *others in groups:
        owner, leaf = _split(first)
        shared = modules[owner]._parameters[leaf]
        for name in others:
            owner, leaf = _split(name)
            setattr(modules[owner], leaf, shared)


def _generic_to_torch(module: rnn.Module) -> torch.nn.Module:
    name = type(module).__name__
    torch_cls = getattr(torch.nn, name, None)
    if torch_cls is None:
        raise TypeError(f"no torch.nn.{name}: register a converter with register_to_torch({name})")
    module_cls: type[torch.nn.Module] = torch_cls
    return module_cls(**_constructor_arguments(module, module_cls))


@register_to_torch(rnn.Sequential)
def _sequential_to_torch(module: rnn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(
        OrderedDict((name, to_torch(child)) for name, child in module.named_children())
    )


def from_torch(module: torch.nn.Module) -> rnn.Module:
    """A refnet module computing the same function as a ``torch.nn`` module, weights copied."""
    converter = _FROM_TORCH.get(type(module), _generic_from_torch)
    result = converter(module)
    tensors = list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    if tensors:
        result.to(to_array(tensors[0]).dtype)
    result.load_state_dict({key: to_array(value) for key, value in module.state_dict().items()})
    _tie_refnet(result, _torch_shared_names(module))
    return result.train(module.training)


def _torch_shared_names(module: torch.nn.Module) -> list[list[str]]:
    by_id: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(param), []).append(name)
    return [names for names in by_id.values() if len(names) > 1]


def _generic_from_torch(module: torch.nn.Module) -> rnn.Module:
    name = type(module).__name__
    refnet_cls = getattr(rnn, name, None)
    if not (isinstance(refnet_cls, type) and issubclass(refnet_cls, rnn.Module)):
        raise TypeError(f"refnet.nn has no {name}: register a converter with register_from_torch")
    return refnet_cls(**_constructor_arguments(module, refnet_cls))


@register_from_torch(torch.nn.Sequential)
def _sequential_from_torch(module: torch.nn.Module) -> rnn.Module:
    return rnn.Sequential(
        OrderedDict((name, from_torch(child)) for name, child in module.named_children())
    )


@register_to_torch(rnn.ModuleList)
def _module_list_to_torch(module: rnn.Module) -> torch.nn.Module:
    return torch.nn.ModuleList(to_torch(child) for child in module.children())


@register_from_torch(torch.nn.ModuleList)
def _module_list_from_torch(module: torch.nn.Module) -> rnn.Module:
    return rnn.ModuleList(from_torch(child) for child in module.children())


@register_to_torch(rnn.ModuleDict)
def _module_dict_to_torch(module: rnn.Module) -> torch.nn.Module:
    return torch.nn.ModuleDict({name: to_torch(child) for name, child in module.named_children()})


@register_from_torch(torch.nn.ModuleDict)
def _module_dict_from_torch(module: torch.nn.Module) -> rnn.Module:
    return rnn.ModuleDict({name: from_torch(child) for name, child in module.named_children()})


@register_to_torch(rnn.ParameterList)
def _parameter_list_to_torch(module: rnn.Module) -> torch.nn.Module:
    return torch.nn.ParameterList(
        torch.nn.Parameter(to_tensor(p.data)) for p in module.parameters(recurse=False)
    )


@register_from_torch(torch.nn.ParameterList)
def _parameter_list_from_torch(module: torch.nn.Module) -> rnn.Module:
    return rnn.ParameterList(to_array(p) for p in module.parameters(recurse=False))


@register_to_torch(rnn.ParameterDict)
def _parameter_dict_to_torch(module: rnn.Module) -> torch.nn.Module:
    return torch.nn.ParameterDict(
        {name: torch.nn.Parameter(to_tensor(p.data)) for name, p in module.named_parameters()}
    )


@register_from_torch(torch.nn.ParameterDict)
def _parameter_dict_from_torch(module: torch.nn.Module) -> rnn.Module:
    return rnn.ParameterDict({name: to_array(p) for name, p in module.named_parameters()})


_RECURRENT_OPTIONS = ("num_layers", "bias", "batch_first", "dropout", "bidirectional")


def _recurrent_options(module: Any) -> dict[str, Any]:
    """``torch.nn.RNN``/``LSTM``/``GRU`` take ``*args``: their options, named."""
    options = {name: getattr(module, name) for name in _RECURRENT_OPTIONS}
    if isinstance(module, rnn.RNN | torch.nn.RNN):
        options["nonlinearity"] = module.nonlinearity
    if isinstance(module, rnn.LSTM | torch.nn.LSTM):
        options["proj_size"] = module.proj_size
    return options


for _ours, _theirs in ((rnn.RNN, torch.nn.RNN), (rnn.LSTM, torch.nn.LSTM), (rnn.GRU, torch.nn.GRU)):

    def _recurrent_to_torch(module: rnn.Module, cls: Any = _theirs) -> torch.nn.Module:
        size = (module.input_size, module.hidden_size)  # type: ignore[attr-defined]
        return cls(*size, **_recurrent_options(module))

    def _recurrent_from_torch(module: torch.nn.Module, cls: Any = _ours) -> rnn.Module:
        size = (module.input_size, module.hidden_size)
        return cls(*size, **_recurrent_options(module))

    register_to_torch(_ours)(_recurrent_to_torch)
    register_from_torch(_theirs)(_recurrent_from_torch)


class Residual(torch.nn.Module):
    """``x + block(x)``: the torch counterpart of :class:`refnet.nn.Residual`.

    ``torch.nn`` has no residual container (torchvision's ResNet blocks add the skip
    inside their ``forward``), so :func:`to_torch` builds this one; its child is called
    ``block`` too, so ``state_dict`` keys (``block.0.weight``) are the same on both sides.
    """

    def __init__(self, block: torch.nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@register_to_torch(rnn.Residual)
def _residual_to_torch(module: rnn.Module) -> torch.nn.Module:
    assert isinstance(module, rnn.Residual)
    return Residual(to_torch(module.block))


@register_from_torch(Residual)
def _residual_from_torch(module: torch.nn.Module) -> rnn.Module:
    assert isinstance(module, Residual)
    return rnn.Residual(from_torch(module.block))


@register_from_torch(torch.nn.MultiheadAttention)
def _multihead_attention_from_torch(module: torch.nn.Module) -> rnn.Module:
    """torch keeps neither ``bias`` nor ``add_bias_kv``: read them off the parameters."""
    assert isinstance(module, torch.nn.MultiheadAttention)
    return rnn.MultiheadAttention(
        module.embed_dim,
        module.num_heads,
        dropout=module.dropout,
        bias=module.in_proj_bias is not None,
        add_bias_kv=module.bias_k is not None,
        add_zero_attn=module.add_zero_attn,
        kdim=module.kdim,
        vdim=module.vdim,
        batch_first=module.batch_first,
    )


def _activation_to_torch(activation: rnn.Module) -> Any:
    if type(activation) is rnn.ReLU:
        return "relu"
    if type(activation) is rnn.GELU and activation.approximate == "none":
        return "gelu"
    return to_torch(activation)


def _activation_from_torch(activation: Any) -> Any:
    if activation is torch.nn.functional.relu:
        return "relu"
    if activation is torch.nn.functional.gelu:
        return "gelu"
    if isinstance(activation, torch.nn.Module):
        return from_torch(activation)
    raise TypeError(
        f"refnet needs the activation as 'relu', 'gelu' or a module, got {activation!r}"
    )


def _transformer_layer_options(layer: Any) -> dict[str, Any]:
    """A Transformer layer's constructor arguments, read off its sub-modules (either side)."""
    attention = layer.self_attn
    return {
        "d_model": attention.embed_dim,
        "nhead": attention.num_heads,
        "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p,
        "layer_norm_eps": layer.norm1.eps,
        "batch_first": attention.batch_first,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
    }


_TRANSFORMER_LAYERS: tuple[tuple[Any, Any], ...] = (
    (rnn.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer),
    (rnn.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer),
)
for _our_layer, _their_layer in _TRANSFORMER_LAYERS:

    def _layer_to_torch(module: rnn.Module, cls: Any = _their_layer) -> torch.nn.Module:
        activation = _activation_to_torch(getattr(module, "activation"))  # noqa: B009
        return cls(**_transformer_layer_options(module), activation=activation)

    def _layer_from_torch(module: torch.nn.Module, cls: Any = _our_layer) -> rnn.Module:
        activation = _activation_from_torch(module.activation)
        return cls(**_transformer_layer_options(module), activation=activation)

    register_to_torch(_our_layer)(_layer_to_torch)
    register_from_torch(_their_layer)(_layer_from_torch)


def _optional(convert: Callable[[Any], Any], module: Any) -> Any:
    return None if module is None else convert(module)


@register_to_torch(rnn.TransformerEncoder)
def _encoder_to_torch(module: rnn.Module) -> torch.nn.Module:
    assert isinstance(module, rnn.TransformerEncoder)
    with warnings.catch_warnings():  # torch's note that its nested-tensor fast path is off
        warnings.simplefilter("ignore", UserWarning)
        layer: Any = to_torch(module.layers[0])
        return torch.nn.TransformerEncoder(
            layer,
            module.num_layers,
            norm=_optional(to_torch, module.norm),
            enable_nested_tensor=module.enable_nested_tensor,
            mask_check=module.mask_check,
        )


@register_from_torch(torch.nn.TransformerEncoder)
def _encoder_from_torch(module: torch.nn.Module) -> rnn.Module:
    assert isinstance(module, torch.nn.TransformerEncoder)
    return rnn.TransformerEncoder(
        from_torch(module.layers[0]),
        module.num_layers,
        norm=_optional(from_torch, module.norm),
        enable_nested_tensor=module.enable_nested_tensor,
        mask_check=module.mask_check,
    )


@register_to_torch(rnn.TransformerDecoder)
def _decoder_to_torch(module: rnn.Module) -> torch.nn.Module:
    assert isinstance(module, rnn.TransformerDecoder)
    layer: Any = to_torch(module.layers[0])
    return torch.nn.TransformerDecoder(
        layer, module.num_layers, norm=_optional(to_torch, module.norm)
    )


@register_from_torch(torch.nn.TransformerDecoder)
def _decoder_from_torch(module: torch.nn.Module) -> rnn.Module:
    assert isinstance(module, torch.nn.TransformerDecoder)
    return rnn.TransformerDecoder(
        from_torch(module.layers[0]), module.num_layers, norm=_optional(from_torch, module.norm)
    )


@register_to_torch(rnn.Transformer)
def _transformer_to_torch(module: rnn.Module) -> torch.nn.Module:
    assert isinstance(module, rnn.Transformer)
    return torch.nn.Transformer(
        module.d_model,
        module.nhead,
        custom_encoder=to_torch(module.encoder),
        custom_decoder=to_torch(module.decoder),
        batch_first=module.batch_first,
    )


@register_from_torch(torch.nn.Transformer)
def _transformer_from_torch(module: torch.nn.Module) -> rnn.Module:
    assert isinstance(module, torch.nn.Transformer)
    return rnn.Transformer(
        module.d_model,
        module.nhead,
        custom_encoder=from_torch(module.encoder),
        custom_decoder=from_torch(module.decoder),
        batch_first=module.batch_first,
    )


def _distance_to_torch(distance: Any) -> Any:
    """A refnet distance as torch's: a module converted, a functional by torch's name."""
    if isinstance(distance, rnn.Module):
        return to_torch(distance)
    module_name = getattr(distance, "__module__", "") or ""
    theirs = getattr(torch.nn.functional, getattr(distance, "__name__", ""), None)
    if module_name.startswith("refnet.nn.functional") and theirs is not None:
        return theirs
    raise TypeError(f"no torch counterpart for the distance function {distance!r}")


@register_to_torch(rnn.TripletMarginWithDistanceLoss)
def _triplet_with_distance_to_torch(module: rnn.Module) -> torch.nn.Module:
    assert isinstance(module, rnn.TripletMarginWithDistanceLoss)
    return torch.nn.TripletMarginWithDistanceLoss(
        distance_function=_distance_to_torch(module.distance_function),
        margin=module.margin,
        swap=module.swap,
        reduction=module.reduction,
    )
