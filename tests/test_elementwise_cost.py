"""``python -m benchmarks.elementwise_cost`` in a tiny configuration, so it cannot rot (no
timing asserted: that it runs and writes its table, one row per operation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import elementwise_cost


def test_it_writes_one_row_per_operation(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    elementwise_cost.main(["--size", "4096", "--rounds", "1", "--out", str(tmp_path)])
    page = (tmp_path / "elementwise.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ") and "ns" not in line]
    assert [row.split(" | ")[0][2:] for row in rows] == ["multiply", "exp", "tanh", "erf"]
    for row in rows:
        figures = [float(cell) for cell in row.strip("| ").split(" | ")[1:]]
        assert len(figures) == 5 and all(f > 0 for f in figures[:3])  # ns per element
    assert "[start:run]" in page and "[end:run]" in page
