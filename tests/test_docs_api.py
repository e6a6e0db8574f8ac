"""Every public class, function and method of refnet has a docstring for its API page.

The API reference (docs/api/) is generated from docstrings by mkdocstrings, which
leaves out an object without one: a missing docstring is a missing entry. "Public"
means what mkdocstrings shows: the names in a module's ``__all__`` (or, without one,
its names not starting with ``_`` that it defines itself), and the methods and
properties those classes define whose names do not start with ``_``. A method that
overrides a documented one (``forward``, ``backward``, ``step``) may inherit the
docstring.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_PAGES = sorted((ROOT / "docs" / "api").glob("*.md"))

# The modules the API pages render (``::: module`` lines).
API_MODULES = [
    match.group(1)
    for page in API_PAGES
    for match in re.finditer(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M)
]

# Modules with no API page: the runnable examples (explained in the textbook) and
# private helpers.
NOT_IN_API = ("refnet.examples",)


def _public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def _public_objects() -> Iterator[tuple[str, Any]]:
    for module_name in API_MODULES:
        if module_name.startswith("refnet.interop"):
            pytest.importorskip("torch")
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in _public_names(module):
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                yield f"{module_name}.{name}", value
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_"):
                        continue
                    if inspect.isfunction(member) or isinstance(
                        member, (property, staticmethod, classmethod)
                    ):
                        yield f"{module_name}.{name}.{attr}", (value, attr, member)


def _own_doc(obj: Any) -> str | None:
    if isinstance(obj, tuple):  # (class, name, member): a method may inherit its docstring
        cls, name, member = obj
        raw = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
        doc = raw.fget.__doc__ if isinstance(raw, property) else raw.__doc__
        return doc or inspect.getdoc(getattr(cls, name))
    return obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__


def test_every_public_object_has_a_docstring() -> None:
    missing = sorted({path for path, obj in _public_objects() if not (_own_doc(obj) or "").strip()})
    assert not missing, "public objects without a docstring:\n  " + "\n  ".join(missing)


def test_every_public_module_has_an_api_page() -> None:
    import refnet

    modules = {
        info.name
        for info in pkgutil.walk_packages(refnet.__path__, "refnet.")
        if not any(part.startswith("_") for part in info.name.split("."))
        and not info.name.startswith(NOT_IN_API)
    }
    missing = sorted(modules - set(API_MODULES))
    assert not missing, f"modules without an API page (add them to docs/api/): {missing}"
