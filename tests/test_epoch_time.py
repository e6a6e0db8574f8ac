"""The epoch comparison (``python -m benchmarks.epoch_time``): its order, its arithmetic and
its page, with the two training processes replaced by stand-ins (no timing asserted)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from benchmarks import epoch_time


def test_rounds_alternate_and_the_ratio_is_of_the_medians(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, int]] = []
    refnet_times, torch_times = [3.0, 1.0, 2.0], [2.0, 4.0, 1.0]

    def fake(side: str, times: list[float]):  # type: ignore[no-untyped-def]
        def run(model: str, data_dir: Path, seed: int, work: Path) -> float:
            assert model == "lenet" and work.is_dir()
            calls.append((side, seed))
            return times[seed]

        return run

    monkeypatch.setattr(epoch_time, "refnet_epoch", fake("refnet", refnet_times))
    monkeypatch.setattr(epoch_time, "torch_epoch", fake("torch", torch_times))
    result = epoch_time.measure("lenet", Path("data"), rounds=3)
    assert calls == [
        ("refnet", 0), ("torch", 0), ("torch", 1), ("refnet", 1), ("refnet", 2), ("torch", 2)
    ]  # fmt: skip
    assert result["ratio"] == statistics.median(refnet_times) / statistics.median(torch_times)
    assert result["by_round"] == [1.5, 0.25, 2.0]
    page = epoch_time.report(result, "a machine")
    assert "| lenet epoch | 2.00 s | 2.00 s | 1.00 | 1.50 0.25 2.00 | <= 1.0 | yes |" in page


def test_a_round_count_below_one_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        epoch_time.main(["--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
