"""The run's outputs: a Markdown table, a JSON file with everything, a bar chart of ratios."""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import Case
from benchmarks.machine import describe
from benchmarks.timing import Stats, paired_ratios, quartiles


@dataclass
class Result:
    """One case's outcome: both sides' timings, the check's errors, or what went wrong."""

    case: Case
    refnet: Stats | None = None
    torch: Stats | None = None
    check: dict[str, float] | None = None
    error: str | None = None
    background: float | None = None  # other processes' share of the CPU while timing
    breakdown: list[dict[str, Any]] | None = None  # refnet's layers, with --breakdown
    pass_ratios: list[float] = dataclasses.field(default_factory=list)  # one per pass

    @property
    def ratios(self) -> list[float]:
        if self.refnet is None or self.torch is None:
            return []
        return paired_ratios(self.refnet, self.torch)

    @property
    def ratio(self) -> float | None:
        """refnet's median over torch's median (< 1: refnet is faster)."""
        if self.refnet is None or self.torch is None or self.torch.median <= 0:
            return None
        return self.refnet.median / self.torch.median

    @property
    def ratio_iqr(self) -> tuple[float, float] | None:
        """Quartiles of the round-by-round ratios (each round timed both sides)."""
        ratios = self.ratios
        return quartiles(ratios) if ratios else None

    @property
    def meets_target(self) -> bool | None:
        if self.case.target is None or self.ratio is None:
            return None
        return self.ratio <= self.case.target


def _stats_json(stats: Stats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "median_ms": stats.median,
        "q25_ms": stats.q25,
        "q75_ms": stats.q75,
        "min_ms": stats.min,
        "max_ms": stats.max,
        "calls_per_sample": stats.number,
        "samples_ms": stats.samples,
    }


def to_json(results: list[Result], machine: dict[str, Any], settings: dict[str, Any]) -> str:
    rows = []
    for r in results:
        iqr = r.ratio_iqr
        rows.append(
            {
                "name": r.case.name,
                "title": r.case.title,
                "group": r.case.group,
                "target_ratio": r.case.target,
                "refnet": _stats_json(r.refnet),
                "torch": _stats_json(r.torch),
                "ratio": r.ratio,
                "ratio_iqr": None if iqr is None else list(iqr),
                "ratio_median_of_rounds": statistics.median(r.ratios) if r.ratios else None,
                "ratio_by_pass": r.pass_ratios,
                # The fastest samples: an estimate of each side on an idle machine.
                "ratio_of_minimums": (
                    r.refnet.min / r.torch.min if r.refnet and r.torch and r.torch.min else None
                ),
                "meets_target": r.meets_target,
                "check_relative_errors": r.check,
                "others_cpu_share": r.background,
                "refnet_layer_breakdown_ms": r.breakdown,
                "error": r.error,
            }
        )
    document = {"settings": settings, "machine": machine, "results": rows}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _ms(stats: Stats | None) -> str:
    if stats is None:
        return "—"
    return f"{stats.median:.3f}" if stats.median < 1 else f"{stats.median:.2f}"


def _target(r: Result) -> str:
    if r.case.target is None:
        return ""
    mark = {True: " ✓", False: " ✗", None: ""}[r.meets_target]
    return f"≤ {r.case.target:g}{mark}"


def table(results: list[Result], with_torch: bool) -> str:
    """The Markdown table of one run."""
    lines = [
        "| case | refnet ms | torch ms | ratio | ratio IQR | ratio by pass | others' CPU "
        "| target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.error is not None:
            reason = r.error.splitlines()[0].replace("|", "/")
            lines.append(f"| {r.case.title} | **failed** | | | | | | {reason} |")
            continue
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
        iqr = r.ratio_iqr
        spread = "—" if iqr is None else f"{iqr[0]:.2f} to {iqr[1]:.2f}"
        torch_ms = _ms(r.torch) if with_torch else "—"
        others = "—" if r.background is None else f"{r.background:.0%}"
        by_pass = " ".join(f"{x:.2f}" for x in r.pass_ratios) or "—"
        lines.append(
            f"| {r.case.title} | {_ms(r.refnet)} | {torch_ms} | {ratio} | {spread} | {by_pass} "
            f"| {others} | {_target(r)} |"
        )
    return "\n".join(lines)


def breakdown_tables(results: list[Result]) -> list[str]:
    """Markdown tables of refnet's per-layer times for the steps run with --breakdown."""
    lines: list[str] = []
    for r in results:
        if not r.breakdown:
            continue
        total = sum(row["forward_ms"] + row.get("backward_ms", 0.0) for row in r.breakdown)
        lines += [
            f"### {r.case.title}: refnet, layer by layer",
            "",
            "| layer | forward ms | backward ms | share |",
            "|---|---:|---:|---:|",
        ]
        for row in r.breakdown:
            bwd = row.get("backward_ms")
            share = (row["forward_ms"] + (bwd or 0.0)) / total if total else 0.0
            bwd_text = "" if bwd is None else f"{bwd:.3f}"
            name = row["layer"].replace("|", "/")
            lines.append(f"| {name} | {row['forward_ms']:.3f} | {bwd_text} | {share:.0%} |")
        lines.append("")
    if lines:
        lines = [
            "## Where refnet's training steps spend their time",
            "",
            "Median milliseconds of each layer, timed one by one inside the step "
            "(`--breakdown`; the sum is a little above the step's time).",
            "",
            *lines,
        ]
    return lines


def markdown(
    results: list[Result], machine: dict[str, Any], settings: dict[str, Any], with_torch: bool
) -> str:
    """The whole report: how it was made, on what, the table, how to read it."""
    how = (
        f"{settings['rounds']} interleaved rounds after {settings['warmup']} warm-up calls per "
        f"side, in {settings['passes']} passes over all the cases (so each case's rounds are "
        "spread over the whole run; **ratio by pass** gives each pass's ratio); each sample "
        f"repeats a call until it lasts ≥ {settings['min_time_ms']:g} ms, "
        f"after {settings['lead_in_s']:g} s of untimed calls (so the other side's idle "
        "threads have stopped spinning). "
        "Milliseconds per call, median over the rounds. **others' CPU**: the share of the "
        "machine's CPU time that other processes used while the case was timed (near 0%: "
        "the cores were ours)."
    )
    if with_torch:
        how += (
            " **ratio** = refnet median / torch median (below 1: refnet is faster); "
            "**ratio IQR**: quartiles of the ratios of the rounds, each round timing both "
            "sides back to back. Before timing, each case checks that refnet and torch "
            "compute the same outputs and gradients (training steps: the loss, every "
            "gradient and the update) from the same weights and inputs."
        )
        title = "# refnet vs PyTorch on CPU (float32)"
    else:
        how += " **torch is not installed: refnet only, no ratios.**"
        title = "# refnet on CPU (float32), refnet only: torch is not installed"
    source = settings.get("source")
    version = ""
    if source:
        version = f" (refnet at commit `{source['commit']}`"
        if source["modified"]:
            version += f", with uncommitted changes in {', '.join(source['modified'])}"
        version += ")"
    return "\n".join(
        [
            title,
            "",
            # The docs include the run (command to the table's last row) by this section's
            # name: a marker line, hidden as an HTML comment, that the include drops.
            "<!-- --8<-- [start:run] -->",
            f"Command: `{settings['command']}`{version}",
            "",
            f"Machine: {describe(machine)}.",
            "",
            how,
            "",
            table(results, with_torch),
            "<!-- --8<-- [end:run] -->",
            "",
            "Targets are the ratios aimed at (the speed chapter says why). The machine is "
            "shared and noisy: compare ratios measured in one run, not milliseconds across runs.",
            "",
            *breakdown_tables(results),
        ]
    )


def low_high(values: list[float], tick: float) -> bool:
    """Whether ``tick`` lies within a factor 1.5 of the plotted range (and 1 always)."""
    return tick == 1 or (bool(values) and min(values) / 1.5 <= tick <= max(values) * 1.5)


def plot(results: list[Result], path: Path, with_torch: bool, subtitle: str) -> bool:
    """A horizontal bar chart of the ratios (of refnet's times without torch).

    Returns False (and draws nothing) without matplotlib.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    rows = [r for r in results if r.error is None and r.refnet is not None]
    if with_torch:
        rows = [r for r in rows if r.ratio is not None]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.6))
    labels = [r.case.title for r in rows]
    ys = list(range(len(rows)))[::-1]
    if with_torch:
        values = [r.ratio or 0.0 for r in rows]
        # The quartiles of the rounds' ratios need not bracket the ratio of the medians.
        iqrs = [r.ratio_iqr or (v, v) for v, r in zip(values, rows, strict=True)]
        low = [max(0.0, v - q[0]) for v, q in zip(values, iqrs, strict=True)]
        high = [max(0.0, q[1] - v) for v, q in zip(values, iqrs, strict=True)]
        colours = ["#2a7ab9" if v <= 1 else "#d9822b" for v in values]
        # Bars grow from 1 (equal times): leftwards where refnet is faster.
        widths = [v - 1.0 for v in values]
        ax.barh(ys, widths, left=1.0, color=colours, xerr=[low, high], capsize=2, ecolor="#444")
        ax.axvline(1.0, color="black", linewidth=0.8)
        for y, r in zip(ys, rows, strict=True):
            if r.case.target is not None:
                ax.plot([r.case.target] * 2, [y - 0.4, y + 0.4], color="crimson", linewidth=2)
        ax.set_xscale("log")
        ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8) if low_high(values, t)]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel(
            "refnet time / torch time (log scale; < 1: refnet faster; red: target; bars: IQR)"
        )
        ax.set_title("refnet vs PyTorch, float32 CPU\n" + subtitle, fontsize=9)
    else:
        values = [r.refnet.median for r in rows if r.refnet is not None]
        ax.barh(ys, values, color="#2a7ab9")
        ax.set_xscale("log")
        ax.set_xlabel("refnet ms per call (log scale)")
        ax.set_title("refnet only (torch not installed), float32 CPU\n" + subtitle, fontsize=9)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
