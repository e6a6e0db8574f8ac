"""Input checks shared by the layers: clear errors that name the module and the shapes.

A shape or dtype mistake should read like
``Linear(in_features=784, out_features=10, bias=True): expected input of shape
(*, 784), got (64, 28, 28)``, never like a broadcasting traceback from inside a kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from refnet._typing import Array

if TYPE_CHECKING:
    from refnet.nn.module import Module


def float_input(module: Module, x: object, name: str = "input") -> Array:
    """Return ``x`` if it is a floating-point NumPy array, else raise ``TypeError``."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{module.describe()}: expected {name} to be a NumPy array, got {type(x).__name__}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{module.describe()}: expected a floating-point {name}, got dtype {x.dtype} "
            f"(convert with x.astype(np.float32))"
        )
    return x


def matching_dtype(
    module: Module, x: Array, dtype: np.dtype[np.generic], name: str = "input"
) -> None:
    """Raise ``TypeError`` if ``x`` does not have the module's parameter ``dtype``.

    refnet never casts silently: a float64 input to a float32 layer would either upcast the
    whole float32 path or lose precision without telling anyone.
    """
    if x.dtype != dtype:
        raise TypeError(
            f"{module.describe()}: {name} has dtype {x.dtype} but the parameters are {dtype}; "
            f"convert the input (x.astype(np.{dtype})) or the module (module.to(np.{x.dtype}))"
        )


def shape_error(module: Module, expected: str, x: Array, name: str = "input") -> ValueError:
    """A ``ValueError`` saying which shape ``module`` expected and which it got."""
    return ValueError(
        f"{module.describe()}: expected {name} of shape {expected}, got {tuple(x.shape)}"
    )


def same_shape_gradient(module: Module, grad_output: object, shape: tuple[int, ...]) -> Array:
    """Check that ``grad_output`` is an array of the shape of the latest forward's output."""
    if not isinstance(grad_output, np.ndarray):
        raise TypeError(
            f"{module.describe()}: backward() expects a NumPy array, "
            f"got {type(grad_output).__name__}"
        )
    if grad_output.shape != shape:
        raise ValueError(
            f"{module.describe()}: backward() expects a gradient of the output's shape {shape}, "
            f"got {tuple(grad_output.shape)}"
        )
    return grad_output
