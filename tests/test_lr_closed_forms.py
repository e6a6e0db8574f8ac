"""The schedulers' closed forms against torch's, at every epoch of a long run.

A closed form gives the rate at epoch t from the base rate alone (``SequentialLR`` uses
it at its milestones); the chained form, step by step, is what ``step()`` uses. Both must
be torch's: the chained form is compared in test_lr_scheduler.py, the closed form here,
for epochs 0..40 (past every milestone, ``T_max`` and ``total_iters``), with both
libraries' schedulers set to each epoch and asked for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import refnet.nn as nn
import refnet.optim as optim
from refnet.optim import lr_scheduler

torch = pytest.importorskip("torch")

CASES: dict[str, dict[str, Any]] = {
    "StepLR": {"step_size": 3, "gamma": 0.5},
    "MultiStepLR": {"milestones": [2, 5, 5, 11], "gamma": 0.3},
    "ConstantLR": {"factor": 0.25, "total_iters": 7},
    "LinearLR": {"start_factor": 0.2, "end_factor": 0.9, "total_iters": 9},
    "ExponentialLR": {"gamma": 0.93},
    "CosineAnnealingLR": {"T_max": 12, "eta_min": 0.003},
    "PolynomialLR": {"total_iters": 13, "power": 1.7},
}


def schedulers(name: str) -> tuple[Any, Any]:
    ours = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    theirs = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    kwargs = CASES[name]
    return (
        getattr(lr_scheduler, name)(ours, **kwargs),
        getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs),
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_form_matches_torchs_at_every_epoch(name: str) -> None:
    ours, theirs = schedulers(name)
    for epoch in range(41):
        ours.last_epoch = theirs.last_epoch = epoch
        expected = theirs._get_closed_form_lr()
        np.testing.assert_allclose(ours._closed_form_lr(), expected, rtol=1e-14, err_msg=epoch)


@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_form_agrees_with_the_chain(name: str) -> None:
    """refnet against itself: the rate after t steps equals the closed form at t."""
    chained, _ = schedulers(name)
    closed, _ = schedulers(name)
    for epoch in range(1, 41):
        chained.step()
        closed.last_epoch = epoch
        np.testing.assert_allclose(
            chained.get_last_lr(), closed._closed_form_lr(), rtol=1e-12, err_msg=epoch
        )
