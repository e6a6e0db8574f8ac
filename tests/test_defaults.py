"""Every module built with only its required arguments equals torch's, attribute by attribute.

The torch-agreement tests build the torch twin from the refnet module's own attributes,
so a wrong default agrees with itself there (issue 20: changed default slopes, alphas,
pooling strides all passed). Here both libraries build their module from the same
required arguments alone, and every plain attribute torch keeps (numbers, strings,
flags, tuples) must be equal on refnet's side, in the module and in each submodule both
have (a Transformer layer's dropout rate and norm eps live in its children), and so
must the parameter shapes and ``state_dict`` keys.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
from tests.test_coverage import public_module_classes

torch = pytest.importorskip("torch")

# A value for each required argument, by name (shared by both libraries' signatures).
REQUIRED: dict[str, Any] = {
    "in_features": 3,
    "out_features": 2,
    "in1_features": 3,
    "in2_features": 2,
    "in_channels": 2,
    "out_channels": 4,
    "kernel_size": 3,
    "num_features": 3,
    "normalized_shape": 4,
    "num_groups": 1,
    "num_channels": 2,
    "num_embeddings": 5,
    "embedding_dim": 3,
    "input_size": 3,
    "hidden_size": 4,
    "embed_dim": 8,
    "num_heads": 2,
    "d_model": 8,
    "nhead": 2,
    "output_size": 2,
    "dim": 1,
    "unflattened_size": (2, 2),
    "encoder_layer": None,  # filled in below for the Transformer stacks
    "decoder_layer": None,
    "num_layers": 2,
    "block": None,
    "padding": 2,
    "value": 0.5,
    "threshold": 0.1,
    "upscale_factor": 2,
    "downscale_factor": 2,
    "groups": 2,
    "size": 3,
    "norm_type": 2,
    "n_classes": 6,
    "num_classes": 4,
    "cutoffs": [2, 4],
}
SKIP = {
    nn.Residual: "no torch counterpart",
    # Neither library builds one without output_size or output_ratio
    # (tests/test_fractional_pool.py compares them with torch instead).
    nn.FractionalMaxPool2d: "needs output_size or output_ratio",
    nn.FractionalMaxPool3d: "needs output_size or output_ratio",
}
# Attributes that are not part of the module's definition on torch's side.
IGNORED = {"training"}
# Options refnet does not keep, with torch's default that refnet's behaviour equals.
NOT_KEPT = {
    "inplace": False,  # refnet never overwrites an input
    "return_indices": False,  # pooling returns the output alone
    "use_nested_tensor": False,  # torch's encoder fast path for padded batches, off here
}
# torch's internal name for the recurrent kind; refnet's classes say it.
NOT_KEPT_ANY = {"mode"}


def _plain(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str, type(None))):
        return True
    return isinstance(value, tuple) and all(_plain(v) for v in value)


def _both_nan(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b)


def _required(cls: type) -> dict[str, Any]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name: REQUIRED[p.name]
        for p in parameters
        if p.name != "self" and p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD
    }


def _submodule(module: Any, path: str) -> Any:
    """refnet's submodule at torch's dotted ``path`` ('' for the module), None if absent."""
    for name in path.split(".") if path else []:
        module = module[int(name)] if name.isdigit() else getattr(module, name, None)
        if module is None:
            return None
    return module


def _differences(ours: Any, theirs: Any) -> list[str]:
    """Every plain attribute of torch's module that refnet's lacks or holds another value of."""
    differences = []
    for name, value in vars(theirs).items():
        if name.startswith("_") or name in IGNORED or not _plain(value):
            continue
        not_kept = name in NOT_KEPT_ANY or (name in NOT_KEPT and value == NOT_KEPT[name])
        if not_kept and not hasattr(ours, name):
            continue
        mine = getattr(ours, name, "<missing>")
        if isinstance(mine, np.ndarray):
            mine = mine.tolist()
        if isinstance(mine, list):
            mine = tuple(mine)
        if _both_nan(mine, value):
            continue
        if mine != value:
            differences.append(f"{name}: refnet {mine!r}, torch {value!r}")
    return differences


def _cases() -> list[type]:
    found = []
    for cls in sorted(public_module_classes(), key=lambda c: c.__name__):
        theirs = getattr(torch.nn, cls.__name__, None)
        if cls in SKIP or theirs is None:
            continue
        found.append(cls)
    return found


@pytest.mark.parametrize("cls", _cases(), ids=lambda c: c.__name__)
def test_default_construction_matches_torch(cls: type) -> None:
    try:
        arguments = _required(cls)
    except KeyError as missing:
        pytest.fail(f"{cls.__name__}: add a value for the required argument {missing} above")
    if any(v is None for v in arguments.values()):
        pytest.skip("built from another module: compared through that module's own case")
    ours = cls(**arguments)
    theirs = getattr(torch.nn, cls.__name__)(**arguments)
    differences = []
    for path, their_part in theirs.named_modules():
        our_part = _submodule(ours, path)
        if our_part is not None:
            differences += [f"{path or '.'}: {d}" for d in _differences(our_part, their_part)]
    assert not differences, f"{cls.__name__} defaults differ: " + "; ".join(differences)
    ours_state = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    theirs_state = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours_state == theirs_state
