"""Root pytest configuration: doctests in refnet/ run with the tests.

Modules that import an optional dependency at the top are left out of doctest
collection when that dependency is missing, so the suite passes with the `test` extra
alone.
"""

from __future__ import annotations

import importlib.util

OPTIONAL = {
    "torch": ["refnet/interop/torch.py"],
    "matplotlib": ["refnet/examples/*plots*.py"],
    "tqdm": [],
}

collect_ignore_glob: list[str] = [
    pattern
    for package, patterns in OPTIONAL.items()
    if importlib.util.find_spec(package) is None
    for pattern in patterns
]
