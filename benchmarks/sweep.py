"""``python -m benchmarks --sweep``: how a training step's cost grows with the batch.

The MLP and cnn training steps (those of the main table) at batch sizes 1, 8, 32, 128
and 512, with 1 and with 2 threads for both libraries, timed as the main table times
(interleaved rounds, a lead-in before each sample). Reported per sample (the step's time
over the batch size), so a flat line is a cost proportional to the batch and a line
falling to the right is a fixed cost per step being spread: refnet's Python per layer,
torch's dispatcher and autograd tape. Writes ``sweep.md``, ``sweep.json`` and
``sweep.png``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import Case, Contest, step_contest
from benchmarks.machine import describe
from benchmarks.report import Result

BATCHES = (1, 8, 32, 128, 512)
MODELS = ("mlp", "cnn")
THREADS = (1, 2)


def _step(model: str, batch: int) -> Callable[[Any], Contest]:
    return lambda torch: step_contest(model, batch, torch)


def sweep_cases(
    models: tuple[str, ...] | None = None, batches: tuple[int, ...] | None = None
) -> list[Case]:
    """One training-step case per model and batch size (default: MODELS, BATCHES)."""
    return [
        Case(
            f"sweep-{model}-{batch}",
            "sweep",
            f"training step, {model}, batch {batch}",
            _step(model, batch),
        )
        for model in models or MODELS
        for batch in batches or BATCHES
    ]


@dataclass(frozen=True)
class Point:
    """One case at one thread count: the medians (ms per step) and the ratio."""

    model: str
    batch: int
    threads: int
    refnet_ms: float
    torch_ms: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.torch_ms is None else self.refnet_ms / self.torch_ms

    def per_sample_us(self, side: str) -> float | None:
        ms = self.refnet_ms if side == "refnet" else self.torch_ms
        return None if ms is None else 1e3 * ms / self.batch


def points_of(results: list[Result], threads: int) -> list[Point]:
    """The timed results of one thread count as points (failed cases left out)."""
    out = []
    for result in results:
        if result.error is not None or result.refnet is None:
            continue
        _, model, batch = result.case.name.split("-")
        torch_ms = None if result.torch is None else result.torch.median
        out.append(Point(model, int(batch), threads, result.refnet.median, torch_ms))
    return out


def markdown(points: list[Point], machine: dict[str, Any], command: str) -> str:
    """The sweep's table: per-sample times of both libraries and their ratio."""
    lines = [
        "# How a training step's cost grows with the batch (float32, CPU)",
        "",
        "<!-- --8<-- [start:sweep] -->",  # the docs include this section by name
        f"Command: `{command}`{_version(machine.get('source'))}",
        "",
        f"Machine: {describe(machine)}",
        "",
        "Microseconds per sample (the step's median time over the batch size); **ratio** ="
        " refnet / torch (below 1: refnet is faster). Both libraries use the same number"
        " of threads in each row.",
        "",
        "| model | batch | threads | refnet µs/sample | torch µs/sample | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(points, key=lambda p: (p.model, p.threads, p.batch)):
        ours, theirs = p.per_sample_us("refnet"), p.per_sample_us("torch")
        torch_cell = "" if theirs is None else f"{theirs:.1f}"
        ratio = "" if p.ratio is None else f"{p.ratio:.2f}"
        lines.append(
            f"| {p.model} | {p.batch} | {p.threads} | {ours:.1f} | {torch_cell} | {ratio} |"
        )
    lines.append("<!-- --8<-- [end:sweep] -->")
    return "\n".join(lines) + "\n"


def _version(source: dict[str, Any] | None) -> str:
    if not source:
        return ""
    modified = source["modified"]
    changes = f", with uncommitted changes in {', '.join(modified)}" if modified else ""
    return f" (refnet at commit `{source['commit']}`{changes})"


def to_json(points: list[Point], machine: dict[str, Any], command: str) -> str:
    rows = [asdict(p) | {"ratio": p.ratio} for p in points]
    return json.dumps({"command": command, "machine": machine, "points": rows}, indent=1)


def plot(points: list[Point], path: Path) -> bool:
    """Per-sample time against batch size (log-log), one panel per model, and the ratio
    below it; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    models = sorted({p.model for p in points})
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 7), squeeze=False)
    styles = {1: ":", 2: "-"}
    for column, model in enumerate(models):
        top, bottom = axes[0][column], axes[1][column]
        for threads in sorted({p.threads for p in points}):
            row = sorted(
                (p for p in points if p.model == model and p.threads == threads),
                key=lambda p: p.batch,
            )
            batches = [p.batch for p in row]
            for side, colour in (("refnet", "#2a7ab9"), ("torch", "#d9822b")):
                values = [p.per_sample_us(side) for p in row]
                if all(v is not None for v in values):
                    top.plot(
                        batches,
                        values,
                        styles.get(threads, "-"),
                        marker="o",
                        color=colour,
                        label=f"{side}, {threads} thread(s)",
                    )
            ratios = [p.ratio for p in row]
            if all(r is not None for r in ratios):
                bottom.plot(
                    batches,
                    ratios,
                    styles.get(threads, "-"),
                    marker="o",
                    color="black",
                    label=f"{threads} thread(s)",
                )
        top.set(xscale="log", yscale="log", title=f"{model} training step", ylabel="µs per sample")
        top.legend(fontsize=8)
        bottom.axhline(1.0, color="grey", linewidth=0.8)
        bottom.set(xscale="log", xlabel="batch size", ylabel="refnet / torch")
        bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
