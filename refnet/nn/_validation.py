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
    if not np.issubdtype(grad_output.dtype, np.floating):
        raise TypeError(
            f"{module.describe()}: backward() expects a floating-point gradient, got dtype "
            f"{grad_output.dtype} (convert with g.astype(np.float32))"
        )
    return grad_output


def output_gradient(
    module: Module,
    grad: object,
    shape: tuple[int, ...],
    dtype: np.dtype[np.generic],
    name: str = "grad_output",
) -> Array:
    """The gradient for one of several outputs: ``None`` (the loss did not use it) is zeros.

    A module with several outputs takes one gradient per output in ``backward``
    (``lstm.backward(grad_output, (grad_h_n, grad_c_n))``); an output the loss ignores
    gets ``None``. Anything else must be an array of that output's shape and dtype.
    """
    if grad is None:
        return np.zeros(shape, dtype=dtype)
    if not isinstance(grad, np.ndarray):
        raise TypeError(
            f"{module.describe()}: backward() expects {name} to be a NumPy array or None, "
            f"got {type(grad).__name__}"
        )
    if grad.shape != shape:
        raise ValueError(
            f"{module.describe()}: backward() expects {name} of shape {shape} "
            f"(the shape of that output), got {tuple(grad.shape)}"
        )
    if grad.dtype != dtype:
        raise TypeError(
            f"{module.describe()}: backward() expects {name} of dtype {dtype} "
            f"(the output's), got {grad.dtype}"
        )
    return grad


def gradient_pair(module: Module, grad: object, name: str) -> tuple[object, object]:
    """Split the gradient of a pair-valued output (``(h_n, c_n)``); ``None`` is two ``None``s."""
    if grad is None:
        return None, None
    if not isinstance(grad, tuple | list) or len(grad) != 2:
        raise TypeError(
            f"{module.describe()}: backward() expects {name} as a pair (or None) matching "
            f"the output's structure, got {type(grad).__name__}"
            + (f" of length {len(grad)}" if isinstance(grad, tuple | list) else "")
        )
    return grad[0], grad[1]
