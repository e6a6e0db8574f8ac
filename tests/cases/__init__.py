"""Module and loss cases for the generic property tests; see :mod:`tests.cases.registry`.

Importing this package imports every module in it, so each file's registrations are in
:data:`MODULE_CASES` / :data:`LOSS_CASES`. One file per family of layers.
"""

from __future__ import annotations

import importlib
import pkgutil

from tests.cases.registry import LOSS_CASES, MODULE_CASES, NOT_IN_TORCH, LossCase, ModuleCase

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "registry":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["LOSS_CASES", "MODULE_CASES", "NOT_IN_TORCH", "LossCase", "ModuleCase"]
