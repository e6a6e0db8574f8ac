"""Test configuration: Hypothesis profiles and shared fixtures.

Profiles (choose with ``pytest --hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE``):

* ``fast`` (default): few examples per property, so the suite runs in minutes on 2 cores;
* ``thorough``: many examples, for a release or after touching a kernel;
* ``ci``: ``fast`` with derandomised seeds, so a CI run is reproducible.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("fast", max_examples=8, **_COMMON)
settings.register_profile("ci", max_examples=8, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, for tests whose values need not vary."""
    return np.random.default_rng(12345)
