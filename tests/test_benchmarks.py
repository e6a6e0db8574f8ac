"""The benchmark runner (``python -m benchmarks``) in a tiny configuration, so it cannot rot.

No timing is asserted: only that it runs, checks, and writes well-formed outputs, with
torch and without it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.cases import all_cases, relative_error, select
from benchmarks.cli import main

# One thread: quick on a busy machine (without threadpoolctl NumPy keeps its own count,
# and torch follows it).
TINY = ["--rounds", "2", "--passes", "2", "--warmup", "1", "--min-time", "0", "--lead-in", "0"]
TINY += ["--threads", "1"]
CASES = "relu-fwd,cross-entropy-fwdbwd,step-mlp"


def run(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    code = main([*TINY, "--cases", CASES, "--out", str(tmp_path), *extra])
    document = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    return code, document, (tmp_path / "latest.md").read_text(encoding="utf-8")


def test_with_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code, document, md = run(tmp_path, "--breakdown")
    assert code == 0
    assert document["settings"]["torch"] is True
    assert document["settings"]["cases"] == CASES.split(",")
    source = document["settings"]["source"]  # None outside a git checkout
    assert source is None or ("commit" in source and isinstance(source["modified"], list))
    machine = document["machine"]
    assert machine["torch"]["threads"] == machine["numpy"]["blas"]["threads"]
    assert machine["refnet_threads"] == 1  # refnet's default
    assert machine["numpy"]["version"] == np.__version__
    for row in document["results"]:
        assert row["error"] is None
        assert len(row["refnet"]["samples_ms"]) == len(row["torch"]["samples_ms"]) == 2
        assert row["ratio"] == pytest.approx(row["refnet"]["median_ms"] / row["torch"]["median_ms"])
        assert all(error <= 1e-4 for error in row["check_relative_errors"].values())
    step = document["results"][-1]
    assert step["target_ratio"] == next(c.target for c in all_cases() if c.name == step["name"])
    assert step["target_ratio"] is not None  # the step cases all have one
    assert "0.weight gradient" not in step["check_relative_errors"]  # Flatten has none
    assert "1.weight after the step" in step["check_relative_errors"]
    layers = [row["layer"] for row in step["refnet_layer_breakdown_ms"]]
    assert layers[1].startswith("1: Linear(in_features=784") and layers[-1] == "optimizer step"
    assert "Where refnet's training steps spend their time" in md
    header = "| case | refnet ms | torch ms | ratio | ratio IQR | ratio by pass | others' CPU |"
    assert header in md
    assert document["settings"]["passes"] == 2
    assert all(len(row["ratio_by_pass"]) == 2 for row in document["results"])
    table = md.split("## Where")[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3  # header, rule and one row per case
    assert "python -m benchmarks --rounds 2" in md
    if _has_matplotlib():
        assert (tmp_path / "latest.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("how", ["flag", "import"])
def test_without_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    extra = []
    if how == "flag":
        extra = ["--no-torch"]
    else:
        monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    code, document, md = run(tmp_path, *extra)
    assert code == 0
    assert document["settings"]["torch"] is False
    assert document["machine"]["torch"] is None
    for row in document["results"]:
        assert row["torch"] is None and row["ratio"] is None
        assert row["refnet"]["median_ms"] > 0
    assert "refnet only" in md and "torch is not installed" in md


def test_without_matplotlib_there_is_no_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code = main([*TINY, "--cases", "relu-fwd", "--no-torch", "--out", str(tmp_path)])
    assert code == 0
    assert "no chart" in capsys.readouterr().out
    assert not (tmp_path / "latest.png").exists() and (tmp_path / "latest.md").exists()


def test_a_wrong_kernel_fails_its_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before timing catches a backward that differs from torch's."""
    pytest.importorskip("torch")
    import refnet.nn as nn

    def wrong(self: nn.ReLU, grad_output: np.ndarray, y: np.ndarray) -> np.ndarray:
        return grad_output * 1.01

    monkeypatch.setattr(nn.ReLU, "_backward", wrong)
    code = main([*TINY, "--cases", "relu-fwdbwd", "--out", str(tmp_path)])
    assert code == 1
    document = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert "input gradient" in document["results"][0]["error"]
    assert "**failed**" in (tmp_path / "latest.md").read_text(encoding="utf-8")


def test_case_selection_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    cases = all_cases()
    assert {c.name for c in select(cases, "step")} == {"step-mlp", "step-lenet", "step-cnn"}
    assert [c.name for c in select(cases, "conv2d-*")] == ["conv2d-fwd", "conv2d-fwdbwd"]
    with pytest.raises(ValueError, match="no case matches nope"):
        select(cases, "nope")
    assert main(["--list"]) == 0
    assert "step-cnn" in capsys.readouterr().out


def test_relative_error() -> None:
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert relative_error(np.array([1.0, 2.1]), np.array([1.0, 2.0])) == pytest.approx(0.05)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from benchmarks import sweep

    monkeypatch.setattr(sweep, "MODELS", ("mlp",))
    monkeypatch.setattr(sweep, "BATCHES", (1, 4))
    monkeypatch.setattr(sweep, "THREADS", (1,))
    assert main([*TINY, "--sweep", "--out", str(tmp_path)]) == 0
    document = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    points = document["points"]
    assert [(p["model"], p["batch"], p["threads"]) for p in points] == [
        ("mlp", 1, 1),
        ("mlp", 4, 1),
    ]
    for p in points:
        assert p["ratio"] == pytest.approx(p["refnet_ms"] / p["torch_ms"])
    md = (tmp_path / "sweep.md").read_text(encoding="utf-8")
    four = points[1]
    per_sample = f"| mlp | 4 | 1 | {1e3 * four['refnet_ms'] / 4:.1f} |"
    assert per_sample in md
    if _has_matplotlib():
        assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
