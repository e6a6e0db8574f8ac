"""Type aliases shared across refnet.

``Array`` is any NumPy array (the training path is float32, gradient checks float64);
``Seed`` is what every function that draws random numbers accepts.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[Any]
FloatArray: TypeAlias = npt.NDArray[np.floating[Any]]
IntArray: TypeAlias = npt.NDArray[np.integer[Any]]
DTypeLike: TypeAlias = npt.DTypeLike
Seed: TypeAlias = np.random.Generator | int | None
