"""The functional API's default arguments are torch's, and each backward takes its forward's.

tests/test_defaults.py compares the modules built by default; the functions of
``refnet.nn.functional`` have defaults of their own (``F.instance_norm``'s momentum and
eps, a pool's stride, an activation's slope), which every test passing explicit values
would miss (issue 20: the mutation run of functional/normalization.py changed
``instance_norm``'s defaults unseen). Here every parameter that refnet's function and its
``torch.nn.functional`` namesake both give a default must have the same default, and every
``*_backward`` must default a parameter it shares with its forward as the forward does.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import refnet.nn.functional as F

# Where refnet's default is a different spelling of torch's behaviour.
SAME_BEHAVIOUR = {
    # torch's None means False (with a warning that the default changed long ago).
    ("affine_grid", "align_corners"): (False, None),
}


def _public_functions() -> list[str]:
    return sorted(
        name for name in dir(F) if not name.startswith("_") and inspect.isfunction(getattr(F, name))
    )


def _defaults(function: Callable[..., Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not p.empty}


def _torch_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    """The defaults of a torch function, from its signature or, for a builtin without one,
    from the signature its docstring opens with (``conv2d(input, weight, bias=None, ...)``)."""
    try:
        return _defaults(function)
    except (TypeError, ValueError):
        pass
    doc = (function.__doc__ or "").strip()
    header = doc[: doc.index(")") + 1]
    tree = ast.parse(f"def {header}: pass")
    arguments = tree.body[0].args  # type: ignore[attr-defined]
    positional = arguments.posonlyargs + arguments.args
    found = {
        a.arg: ast.literal_eval(d)
        for a, d in zip(
            positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True
        )
    }
    found.update(
        {
            a.arg: ast.literal_eval(d)
            for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
            if d is not None
        }
    )
    return found


def _shared_with_torch() -> list[str]:
    torch_functional = pytest.importorskip("torch.nn.functional")
    return [name for name in _public_functions() if hasattr(torch_functional, name)]


def test_functional_defaults_are_torchs() -> None:
    torch_functional = pytest.importorskip("torch.nn.functional")
    differences, compared = [], 0
    for name in _shared_with_torch():
        theirs = _torch_defaults(getattr(torch_functional, name))
        for parameter, mine in _defaults(getattr(F, name)).items():
            if parameter not in theirs:
                continue
            compared += 1
            if SAME_BEHAVIOUR.get((name, parameter)) == (mine, theirs[parameter]):
                continue
            if mine != theirs[parameter]:
                differences.append(
                    f"{name}({parameter}=): refnet {mine!r}, torch {theirs[parameter]!r}"
                )
    assert compared > 150, compared  # the comparison really ran over the API
    assert not differences, "; ".join(differences)


def test_each_backward_defaults_as_its_forward() -> None:
    differences, compared = [], 0
    for name in _public_functions():
        if not name.endswith("_backward") or not hasattr(F, name.removesuffix("_backward")):
            continue
        forward = _defaults(getattr(F, name.removesuffix("_backward")))
        for parameter, value in _defaults(getattr(F, name)).items():
            if parameter in forward:
                compared += 1
                if value != forward[parameter]:
                    differences.append(
                        f"{name}({parameter}=): {value!r}, forward {forward[parameter]!r}"
                    )
    assert compared > 50, compared
    assert not differences, "; ".join(differences)
