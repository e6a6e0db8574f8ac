"""Chapter 14's coverage table is current: regenerated from torch and refnet, it equals
the committed ``docs/_generated/torch_coverage.md`` (``python docs/_ext/torch_coverage.py``
rewrites it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "_ext" / "torch_coverage.py"


def coverage_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torch_coverage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_coverage_table_is_current() -> None:
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != "2.13.0":
        pytest.skip("the committed table is made against torch 2.13.0")
    module = coverage_module()
    assert module.TARGET.read_text(encoding="utf-8") == module.coverage_markdown(), (
        "stale: run python docs/_ext/torch_coverage.py"
    )


def test_the_argument_check_tells_torchs_order_from_another() -> None:
    module = coverage_module()

    def takes_torchs(input: object, weight: object) -> None: ...

    def takes_others(weight: object, input: object) -> None: ...

    def torch_style(input: object, weight: object, padding_idx: object = None) -> None: ...

    theirs = module.parameters(torch_style)
    assert module.same_arguments(takes_torchs, theirs)
    assert not module.same_arguments(takes_others, theirs)
