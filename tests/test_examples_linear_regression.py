"""The seed lesson: Linear(1, 1) + MSE + SGD(lr=0.01) recovers y = 2x + 1."""

from __future__ import annotations

import pytest

from refnet.examples import linear_regression


def test_weight_and_bias_come_out_near_2_and_1() -> None:
    weight, bias, loss = linear_regression.fit(epochs=1000, lr=0.01, seed=0)
    assert weight == pytest.approx(2.0, abs=0.05)
    assert bias == pytest.approx(1.0, abs=0.05)
    assert loss < 0.02  # the noise variance is 0.01


def test_training_reduces_the_loss() -> None:
    _, _, early = linear_regression.fit(epochs=5, seed=1)
    _, _, late = linear_regression.fit(epochs=500, seed=1)
    assert late < early


def test_command_line_prints_the_learned_line(capsys: pytest.CaptureFixture[str]) -> None:
    linear_regression.main(["--epochs", "300", "--seed", "2"])
    assert "learned y =" in capsys.readouterr().out
